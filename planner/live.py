"""One live account: its settings, Redis, store, delayed-job queue and clock, and the jobs
of its slots (scheduling them, judging whether they are alive, recovering crashed claims).

Split from ``planner.service`` so that ``status`` (which needs liveness and recovery but
never plans) imports neither numpy nor the planning core; ``planner.service`` re-exports
every name here.

Liveness is judged from Redis server state only. A running job is alive while the RQ
worker named in its job hash is still registered (``rq:worker:<name>``, whose TTL the
worker's heartbeat renews with EXPIRE) and that worker's execution index holds a live
execution of the job (``rq:execution:<job>:<id>``, also kept by EXPIRE). Never from the
scores of RQ's started registry: a worker computes those from its own host clock, so a
host 10 minutes slow would look dead while it runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import redis

from config.settings import Settings
from planner import keys
from planner.clock import ensure_aware_utc
from planner.enqueue import (
    JOB_TIMEOUT_S,
    RUN_SLOT,
    DelayedJob,
    DelayedQueue,
    delayed_queue,
    rq_execution_key,
    rq_job_executions_key,
    rq_job_key,
    rq_queue_key,
    rq_worker_executions_key,
    rq_worker_key,
)
from planner.profiles import Profile
from planner.server_clock import ServerClock, TimeMap
from planner.store import PlanStore, RedisPlanStore
from planner.store.redis_common import text
from planner.weekly_plan import ScheduledEngagement, Status, WeeklyPlan

# A claimed slot whose job is no longer alive, or that has been claimed longer than any job
# may run, was interrupted mid-action.
STALE_CLAIM_GRACE = timedelta(seconds=JOB_TIMEOUT_S + 60)
# A job a worker took off the queue goes from RQ's intermediate list to "started" within
# milliseconds; one still sitting there this long after its slot fell due was taken by a
# worker that died. Virtual time for the plan's sake, real time so that a compressed demo
# clock cannot shrink the margin to milliseconds.
STRANDED_GRACE = timedelta(minutes=1)
STRANDED_GRACE_REAL = timedelta(seconds=2)
LIVE_JOB_STATES = {"queued", "deferred"}  # "scheduled": the backend; "started": the worker


class ServiceError(Exception):
    """Raised when a live operation cannot proceed; the message says why."""


@dataclass
class Live:
    """Everything needed to act on one account: settings, Redis, store, queue and clock."""

    account: str
    settings: Settings
    client: redis.Redis
    store: PlanStore
    queue: DelayedQueue
    clock: ServerClock

    @classmethod
    def connect(cls, client: redis.Redis, settings: Settings, account: str) -> Live:
        return cls(
            account=account,
            settings=settings,
            client=client,
            store=RedisPlanStore(client),
            queue=delayed_queue(client, settings.SCHEDULER_BACKEND, settings.QUEUE_NAME),
            clock=ServerClock(client, account),
        )

    def today(self, now: datetime) -> date:
        return now.astimezone(self.settings.tz).date()


# ---- profiles snapshot -----------------------------------------------------------------


def save_profiles(live: Live, profiles: Sequence[Profile]) -> None:
    """Keep the profiles the week was planned from, so any worker host can revise."""
    key = keys.profiles(live.account)
    pipe = live.client.pipeline(transaction=True)
    pipe.delete(key)
    if profiles:
        pipe.hset(key, mapping={p.key: p.model_dump_json() for p in profiles})
    pipe.execute()


def load_profiles(live: Live) -> list[Profile]:
    raw = live.client.hgetall(keys.profiles(live.account))
    out = []
    for field_, value in sorted(raw.items()):
        try:
            out.append(Profile.model_validate_json(value))
        except ValueError as exc:
            raise ServiceError(
                f"{keys.profiles(live.account)} field {text(field_)!r}: unreadable profile"
            ) from exc
    return out


# ---- jobs ------------------------------------------------------------------------------


def current_job_id(live: Live, slot_id: str) -> str:
    raw = live.client.hget(keys.slot_jobs(live.account), slot_id)
    return text(raw) if raw else slot_id


def current_job_ids(live: Live, slot_ids: Sequence[str]) -> list[str]:
    """``current_job_id`` of each slot, in one round trip."""
    if not slot_ids:
        return []
    raw = live.client.hmget(keys.slot_jobs(live.account), list(slot_ids))
    return [text(r) if r else s for s, r in zip(slot_ids, raw, strict=True)]


def schedule_slot(live: Live, slot: ScheduledEngagement, *, job_id: str | None = None) -> bool:
    """Schedule the run of ``slot`` at its instant (idempotent per job id)."""
    job_id = job_id or current_job_id(live, slot.slot_id)
    if job_alive(live, job_id):
        return False
    live.client.hset(keys.slot_jobs(live.account), slot.slot_id, job_id)
    return live.queue.schedule(
        job_id, live.clock.to_real(slot.scheduled_at), RUN_SLOT, (live.account, slot.slot_id)
    )


def ensure_jobs(live: Live, plan: WeeklyPlan) -> int:
    """Every pending slot has a live job; returns how many had to be (re)scheduled.

    The same decisions as ``schedule_slot`` for every open slot, in a few round trips for
    the whole week: job ids, liveness, the job map and one pipelined schedule.
    """
    slots = [slot for slot in plan.slots() if slot.is_open]
    job_ids = current_job_ids(live, [s.slot_id for s in slots])
    alive = jobs_alive(live, job_ids)
    real_now, mapping = live.clock.read()  # one read for the week, not one per slot
    for i in _stranded(live, slots, job_ids, alive, now=(real_now, mapping)):
        alive[i] = False
        job_ids[i] = next_stranded_id(job_ids[i])
    dead = [(s, j) for s, j, a in zip(slots, job_ids, alive, strict=True) if not a]
    if not dead:
        return 0
    live.client.hset(keys.slot_jobs(live.account), mapping={s.slot_id: j for s, j in dead})
    jobs = []
    for slot, job_id in dead:
        at = ensure_aware_utc(slot.scheduled_at, what="instant")
        real = at if mapping is None else mapping.real(at)
        jobs.append(DelayedJob(job_id, real, RUN_SLOT, (live.account, slot.slot_id)))
    return live.queue.schedule_many(jobs)


def _stranded(
    live: Live,
    slots: Sequence[ScheduledEngagement],
    job_ids: list[str],
    alive: list[bool],
    *,
    now: tuple[datetime, TimeMap | None],
) -> list[int]:
    """Indexes of jobs a dead worker took into RQ's intermediate list; they are let go.

    Such a job still reads "queued", so it looks alive, and RQ's own maintenance fails it
    only 10-20 minutes later. Stranded: queued, in the intermediate list but not on the
    queue, and its slot fell due over ``STRANDED_GRACE`` ago. The job is taken out of the
    intermediate list and its hash deleted (what RQ's clean-up would do, sooner); the slot
    gets a job under a new id, since RQ's built-in scheduler refuses an id it still knows.
    Should a live worker hold it after all, the slot's claim lets one run at most (I3).
    """
    real_now, mapping = now
    virtual_now = real_now if mapping is None else mapping.virtual(real_now)
    candidates = []
    for i, (slot, ok) in enumerate(zip(slots, alive, strict=True)):
        due = ensure_aware_utc(slot.scheduled_at, what="instant")
        real_due = due if mapping is None else mapping.real(due)
        if ok and virtual_now - due > STRANDED_GRACE and real_now - real_due > STRANDED_GRACE_REAL:
            candidates.append(i)
    if not candidates:
        return []
    queue_key = rq_queue_key(live.settings.QUEUE_NAME)
    intermediate = f"{queue_key}:intermediate"
    pipe = live.client.pipeline(transaction=False)
    for i in candidates:
        pipe.hget(rq_job_key(job_ids[i]), "status")
        pipe.lpos(intermediate, job_ids[i])
        pipe.lpos(queue_key, job_ids[i])
    replies = pipe.execute()
    stranded = [
        i
        for n, i in enumerate(candidates)
        if replies[3 * n] == b"queued" and replies[3 * n + 1] is not None
        if replies[3 * n + 2] is None
    ]
    if stranded:
        pipe = live.client.pipeline(transaction=False)
        for i in stranded:
            pipe.lrem(intermediate, 0, job_ids[i])
            pipe.delete(rq_job_key(job_ids[i]))
        pipe.execute()
    return stranded


def next_stranded_id(job_id: str) -> str:
    """``<id>-s1`` for a job first let go, then ``-s2`` ... (re-timed runs use ``-r<n>``)."""
    stem, sep, n = job_id.rpartition("-s")
    if sep and n.isdigit():
        return f"{stem}-s{int(n) + 1}"
    return f"{job_id}-s1"


def cancel_jobs(live: Live, plan: WeeklyPlan) -> int:
    open_ids = [s.slot_id for s in plan.slots() if s.is_open]
    return live.queue.cancel(current_job_ids(live, open_ids))


# ---- liveness --------------------------------------------------------------------------


def job_alive(live: Live, job_id: str) -> bool:
    """Scheduled, queued, or running on a worker that is still registered in Redis."""
    return jobs_alive(live, [job_id])[0]


def jobs_alive(live: Live, job_ids: Sequence[str]) -> list[bool]:
    """``job_alive`` for each id, in at most four round trips whatever their number."""
    if not job_ids:
        return []
    scheduled = live.queue.scheduled_many(job_ids)
    pipe = live.client.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.hmget(rq_job_key(job_id), ["status", "worker_name"])
    fields = pipe.execute()
    alive = [when is not None for when in scheduled]
    running: list[tuple[int, str, str]] = []
    for i, (job_id, (status, worker)) in enumerate(zip(job_ids, fields, strict=True)):
        if alive[i] or status is None:
            continue
        state = text(status)
        if state == "started":
            running.append((i, job_id, text(worker) if worker else ""))
        else:
            alive[i] = state in LIVE_JOB_STATES
    for (i, _, _), ok in zip(running, _runs_alive(live.client, running), strict=True):
        alive[i] = ok
    return alive


def _runs_alive(client: redis.Redis, running: list[tuple[int, str, str]]) -> list[bool]:
    """For started jobs (index, job id, worker name): is the run still going?

    Server state only (TTLs that Redis counts down, renewed by the worker's heartbeat):

    - the job's worker must still be registered: ``rq:worker:<name>`` exists;
    - that worker's execution index (``rq:worker:<name>:executions``, RQ >= 2) must hold a
      live execution of this job (its hash ``rq:execution:<job>:<id>`` exists);
    - a worker without an index: its hash's ``current_job`` (older RQ) must be this job;
      with neither, the registration alone answers (unsure means alive: the claim's own
      age, STALE_CLAIM_GRACE, still ends it);
    - a job hash without ``worker_name``: any live execution of the job (its executions
      registry ``rq:executions:<job>``, membership only, never the scores).
    """
    if not running:
        return []
    pipe = client.pipeline(transaction=False)
    for _, job_id, worker in running:
        if worker:
            pipe.exists(rq_worker_key(worker))
            pipe.smembers(rq_worker_executions_key(worker))
            pipe.hget(rq_worker_key(worker), "current_job")
        else:
            pipe.zrange(rq_job_executions_key(job_id), 0, -1)
    replies = iter(pipe.execute())
    verdicts: list[bool | None] = []  # None: decided by the executions below
    candidates: list[list[str]] = []
    for _, job_id, worker in running:
        if worker:
            registered, members, current = next(replies), next(replies), next(replies)
            mine = [m for m in map(text, members) if m.startswith(f"{job_id}:")]
            if not registered:
                verdicts.append(False)
            elif members:
                verdicts.append(None if mine else False)
            elif current is not None:
                verdicts.append(text(current) == job_id)
            else:
                verdicts.append(True)
            candidates.append(mine)
        else:
            ids = [text(m) for m in next(replies)]
            verdicts.append(None if ids else False)
            candidates.append([f"{job_id}:{execution}" for execution in ids])
    pending = [
        (i, c) for i, (v, c) in enumerate(zip(verdicts, candidates, strict=True)) if v is None
    ]
    if pending:
        pipe = client.pipeline(transaction=False)
        for _, composite in pending:
            for key in composite:
                pipe.exists(rq_execution_key(key))
        found = iter(pipe.execute())
        for i, composite in pending:
            verdicts[i] = any([bool(next(found)) for _ in composite])
    return [bool(v) for v in verdicts]


# ---- recovery --------------------------------------------------------------------------


def recover_stale_claims(live: Live, plan: WeeklyPlan, now: datetime) -> list[str]:
    """Claimed slots with no live job (a worker died mid-action) become ``unknown``."""
    claimed = [slot for slot in plan.slots() if slot.status is Status.CLAIMED]
    if not claimed:
        return []
    alive = jobs_alive(live, current_job_ids(live, [s.slot_id for s in claimed]))
    found = []
    real_now = live.clock.real_now()
    for slot, job_is_alive in zip(claimed, alive, strict=True):
        # Real elapsed time: under the demo's compressed clock minutes pass in milliseconds.
        too_long = (
            slot.claimed_at is not None
            and real_now - live.clock.to_real(slot.claimed_at) > STALE_CLAIM_GRACE
        )
        if too_long or not job_is_alive:
            reason = "claimed by a worker that stopped mid-action; not re-run (at most once)"
            if live.store.set_slot_status(
                live.account,
                slot.slot_id,
                expected=Status.CLAIMED,
                new=Status.UNKNOWN,
                at=now,
                reason=reason,
            ):
                found.append(slot.slot_id)
    return found
