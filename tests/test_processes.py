"""Slots run by real processes: redis-server, ``rq worker`` and both delayed-job backends.

Each test plans a few slots seconds apart, stores them with one delayed job each, and lets
real ``rq worker`` processes (and ``rqscheduler`` for the rq-scheduler backend) run them
with a handler that counts its calls in Redis (``tests/counting_handler.py``). Everything is
read back from Redis: slot statuses, handler calls, the guard's reservations.

Time: every process reads the scheduler's clock (Redis ``TIME`` plus the time map in
``eng:clock``), which the tests set to a fixed Monday morning, so no test depends on the
hour it runs at. The cap and gap tests run it 60 times faster than real time: a minute of
the plan passes in a real second, so a rolling hour, a 2-minute gap and a 3-minute late
tolerance all happen within a test, and slots minutes apart are seconds apart for the
processes. The crash and duplicate tests run at real speed.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, StartedJobRegistry

from config.settings import Settings
from planner import keys
from planner.clock import to_us
from planner.enqueue import RUN_SLOT, DelayedJob
from planner.service import Live, ensure_jobs, recover_stale_claims, schedule_slot
from planner.timing import day_window, local_hhmm
from planner.weekly_plan import (
    HANDLER_OUTCOMES,
    TERMINAL,
    DailySlot,
    ScheduledEngagement,
    Status,
    WeeklyPlan,
    slot_id_for,
    week_monday,
)
from tests import counting_handler as handler
from tests.procs import QUEUE, REPO, WORKER_CLASS, Proc, Procs, wait_for, worker_env

pytestmark = pytest.mark.slow

ACCOUNT = "acct"
V0 = datetime(2026, 2, 9, 10, 0, tzinfo=UTC)  # the plan's "now" when a test starts: Monday
BACKENDS = ["rq-scheduler", "rq"]
DEADLINE_S = 60.0

# Valid together: a 09:00-10:30 window fits DAILY_BUDGET_MAX actions at the gap and cap.
BASE_SETTINGS: dict[str, Any] = {
    "TIMEZONE": "UTC",
    "OPERATING_START": "09:00",
    "OPERATING_END": "10:30",
    "DAILY_BUDGET_MIN": 1,
    "DAILY_BUDGET_MAX": 3,
    "WEEKLY_BUDGET_TARGET": 14,
    "DAILY_LIMIT": 20,
    "WEEKLY_LIMIT": 80,
    "BREAKER_THRESHOLD": 5,
}


@dataclass
class Rig:
    """One account on the test server, its settings, and the processes that run it."""

    live: Live
    procs: Procs
    backend: str
    client: redis.Redis

    @property
    def settings(self) -> Settings:
        return self.live.settings

    @staticmethod
    def slot_id(index: int) -> str:
        """The id slot ``index`` of :meth:`plan` gets (known before the plan is stored)."""
        return slot_id_for(ACCOUNT, V0.date(), index)

    def slot(self, slot_id: str) -> ScheduledEngagement:
        return self.live.store.load_slot(ACCOUNT, slot_id).engagement

    def plan(self, offsets: list[timedelta]) -> list[ScheduledEngagement]:
        """Store a one-day plan with a slot at ``V0 + offset`` each, and schedule its jobs."""
        day = V0.date()
        slots = [
            ScheduledEngagement(
                slot_id=self.slot_id(i),
                index=i,
                linkedin_url=f"https://example.com/in/p{i}",
                name=f"P{i}",
                scheduled_time=local_hhmm(V0 + off, self.settings),
                scheduled_at=V0 + off,
                priority_score=1.0,
                days_since_last_like=10.0,
                forced=False,
            )
            for i, off in enumerate(offsets)
        ]
        monday = week_monday(day)
        plan = WeeklyPlan(
            account=ACCOUNT,
            timezone=self.settings.TIMEZONE,
            week_start=monday,
            week_number=monday.isocalendar()[1],
            created_at=V0,
            days={day.isoformat(): DailySlot(date=day, budget=len(slots), engagements=slots)},
        )
        self.live.store.save_week(plan)
        assert ensure_jobs(self.live, plan) == len(slots)
        return slots

    def wait(self, predicate: Callable[[], bool], what: str, timeout: float = DEADLINE_S) -> None:
        wait_for(predicate, timeout=timeout, what=what, on_timeout=self.procs.logs)

    def wait_terminal(self, slots: list[ScheduledEngagement], timeout: float = DEADLINE_S) -> None:
        def done() -> bool:
            return all(self.slot(s.slot_id).status in TERMINAL for s in slots)

        self.wait(done, "every slot to reach a terminal status", timeout)

    def wait_virtual(self, instant: datetime) -> None:
        """Until the scheduler's clock reads ``instant``."""
        self.wait(lambda: self.live.clock() >= instant, f"the clock to read {instant}")

    def statuses(self, slots: list[ScheduledEngagement]) -> dict[str, Status]:
        return {s.slot_id: self.slot(s.slot_id).status for s in slots}


@pytest.fixture
def make_rig(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> Iterator[Callable[..., Rig]]:
    """Build a rig for a backend and settings; every process it starts dies in teardown."""
    made: list[Procs] = []

    def make(backend: str, speed: float, **overrides: Any) -> Rig:
        values = {**BASE_SETTINGS, **overrides, "SCHEDULER_BACKEND": backend}
        settings = Settings(_env_file=None, REDIS_URL=redis_url, **values)  # type: ignore[call-arg]
        procs = Procs(redis_url, values, tmp_path)
        made.append(procs)
        live = Live.connect(redis_client, settings, ACCOUNT)
        live.clock.install(V0, speed)
        return Rig(live, procs, backend, redis_client)

    yield make
    for procs in made:
        procs.stop_all()


# ---- what every test checks ------------------------------------------------------------


def assert_ran_at_most_once(rig: Rig, slots: list[ScheduledEngagement]) -> dict[str, int]:
    """I3: a slot with a handler outcome (or unknown) ran exactly once, any other never."""
    calls = handler.calls(rig.client)
    for s in slots:
        status = rig.slot(s.slot_id).status
        ran = status in HANDLER_OUTCOMES or status is Status.UNKNOWN
        assert calls.get(s.slot_id, 0) == (1 if ran else 0), (s.slot_id, status, calls)
    assert set(calls) <= {s.slot_id for s in slots}
    return calls


def assert_caps_and_gap(rig: Rig, slots: list[ScheduledEngagement]) -> None:
    """I1, I2, I4 and lateness, read back from the guard's reservations and the slots."""
    settings = rig.settings
    gap_us = round(settings.TIMING_MIN_GAP_MINUTES * 60e6)
    hour_us = 3600 * 10**6
    done = {
        s.slot_id: rig.slot(s.slot_id) for s in slots if rig.slot(s.slot_id).status is Status.DONE
    }
    reserved = {
        member.decode(): int(score)
        for member, score in rig.client.zrange(keys.guard_hour(ACCOUNT), 0, -1, withscores=True)
    }
    # Exactly the done actions hold a reservation, at the instant they claimed the slot.
    assert reserved == {sid: to_us(e.claimed_at) for sid, e in done.items() if e.claimed_at}
    times = sorted(reserved.values())
    for a, b in itertools.pairwise(times):
        assert b - a >= gap_us, f"two actions {(b - a) / 1e6:.1f} s apart (gap {gap_us / 1e6} s)"
    h = settings.HOURLY_LIMIT
    for i in range(h, len(times)):
        assert times[i] - times[i - h] >= hour_us, f"{h + 1} actions within 60 minutes"
    day_count = rig.client.get(keys.guard_day(ACCOUNT, V0.date()))
    assert int(day_count or 0) == len(done) <= settings.DAILY_LIMIT
    start, end = day_window(V0.date(), settings)
    tolerance = timedelta(minutes=settings.LATE_TOLERANCE_MINUTES)
    for s in slots:
        e = rig.slot(s.slot_id)
        if e.status in HANDLER_OUTCOMES:
            assert e.claimed_at is not None and start <= e.claimed_at < end  # I4
            assert e.claimed_at - e.scheduled_at <= tolerance, f"{s.slot_id} ran late"
    # What the handler saw agrees: one call per executed slot, never more than the cap.
    seen = sorted(at for sid, at in handler.instants(rig.client) if sid in done)
    for i in range(h, len(seen)):
        assert seen[i] - seen[i - h] >= timedelta(hours=1)


# ---- 1. every slot terminal, handler once, caps and gap --------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_slot_ends_terminal_with_caps_and_gap(
    make_rig: Callable[..., Rig], backend: str
) -> None:
    """Six slots 2 minutes apart run by two workers: one status each, caps and gap hold."""
    rig = make_rig(
        backend,
        60.0,
        TIMING_MIN_GAP_MINUTES=1,
        HOURLY_LIMIT=4,
        LATE_TOLERANCE_MINUTES=5,
    )
    rig.procs.start_backend(backend, workers=2)
    handler.script(rig.client, rig.slot_id(1), "failed")  # gives its place in the caps back
    now = rig.live.clock()
    slots = rig.plan([now - V0 + timedelta(minutes=2 * (i + 1)) for i in range(6)])
    rig.wait_terminal(slots)

    statuses = rig.statuses(slots)
    # Four done fill the hourly cap (the failed one gave its place back); the sixth is
    # refused by the cap and its retry would fall after the window: missed.
    assert Counter(statuses.values()) == {Status.DONE: 4, Status.FAILED: 1, Status.MISSED: 1}
    assert statuses[slots[1].slot_id] is Status.FAILED
    assert_ran_at_most_once(rig, slots)
    assert_caps_and_gap(rig, slots)


# ---- 2. SIGKILL inside the handler -----------------------------------------------------


def status_cli(rig: Rig) -> subprocess.CompletedProcess[str]:
    """``python -m planner status --json`` in its own process, with the workers' settings."""
    return subprocess.run(
        [sys.executable, "-m", "planner", "status", "--account", ACCOUNT, "--json"],
        cwd=rig.procs.workdir,
        env=worker_env(rig.procs.redis_url, rig.procs.settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def kill_inside_handler(rig: Rig) -> ScheduledEngagement:
    """Plan one slot whose handler blocks; SIGKILL the workers and their horses inside it."""
    handler.script(rig.client, rig.slot_id(0), "block")
    (slot,) = rig.plan([rig.live.clock() - V0 + timedelta(seconds=2)])
    rig.wait(lambda: handler.calls(rig.client).get(slot.slot_id) == 1, "the handler to start")
    for proc in list(rig.procs.procs):
        if proc.rq_name is not None:
            rig.procs.kill(proc)
    assert rig.slot(slot.slot_id).status is Status.CLAIMED
    return slot


def this_week(rig: Rig) -> WeeklyPlan:
    plan = rig.live.store.load_week(ACCOUNT, week_monday(V0.date()))
    assert plan is not None
    return plan


@pytest.mark.parametrize("backend", BACKENDS)
def test_worker_killed_inside_handler_leaves_slot_unknown_never_rerun(
    make_rig: Callable[..., Rig], backend: str
) -> None:
    """SIGKILL mid-action: the slot stays claimed, becomes unknown, and is never run again."""
    rig = make_rig(backend, 1.0, TIMING_MIN_GAP_MINUTES=1, HOURLY_LIMIT=6)
    rig.procs.start_backend(backend, workers=1)
    slot = kill_inside_handler(rig)

    # RQ still reports the job started (another host's worker could be running it), so
    # nothing is taken from it yet.
    assert recover_stale_claims(rig.live, this_week(rig), rig.live.clock()) == []
    assert rig.slot(slot.slot_id).status is Status.CLAIMED

    # Once the job's heartbeat has expired, RQ's maintenance calls it abandoned (failed)...
    queue = Queue(QUEUE, connection=rig.client)
    StartedJobRegistry(queue=queue).cleanup(timestamp=time.time() + 3600)
    job_id = slot.slot_id
    assert Job.fetch(job_id, connection=rig.client).get_status() == "failed"
    # ...and the next status turns the claim unknown and reports it.
    result = status_cli(rig)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["plan"]["statuses"] == {"unknown": 1}
    assert any("interrupted" in p for p in report["problems"])
    assert rig.slot(slot.slot_id).status is Status.UNKNOWN

    # A new worker, the job re-delivered twice (a retry from the failed registry and a
    # fresh copy): the handler is not called again.
    rig.client.rpush(handler.release_key(slot.slot_id), "go")  # never block again
    rig.procs.wait_ready([rig.procs.start_worker(name="worker-again")])
    FailedJobRegistry(queue=queue).requeue(job_id)
    copy = queue.enqueue(RUN_SLOT, ACCOUNT, slot.slot_id, job_id=f"{slot.slot_id}-copy")
    for jid in (job_id, copy.id):
        rig.wait(
            lambda jid=jid: Job.fetch(jid, connection=rig.client).get_status() == "finished",
            f"job {jid} to finish",
        )
        assert Job.fetch(jid, connection=rig.client).return_value() == "ignored"
    assert handler.calls(rig.client) == {slot.slot_id: 1}
    assert rig.slot(slot.slot_id).status is Status.UNKNOWN


def test_killed_claim_is_unknown_once_its_job_heartbeat_expired(
    make_rig: Callable[..., Rig],
) -> None:
    """A claim whose worker's registration has expired is turned unknown by the next status."""
    rig = make_rig("rq-scheduler", 1.0, TIMING_MIN_GAP_MINUTES=1, HOURLY_LIMIT=6)
    rig.procs.start_backend("rq-scheduler", workers=1)
    slot = kill_inside_handler(rig)
    assert recover_stale_claims(rig.live, this_week(rig), rig.live.clock()) == []
    # No worker is left to renew its registration: Redis itself expires ``rq:worker:<name>``
    # (a TTL the heartbeat renews with EXPIRE) ~90 s after the kill. Let that happen now.
    worker = Job.fetch(slot.slot_id, connection=rig.client).worker_name
    assert worker and 0 < rig.client.ttl(f"rq:worker:{worker}") <= 90 + 60
    rig.client.delete(f"rq:worker:{worker}")
    assert recover_stale_claims(rig.live, this_week(rig), rig.live.clock()) == [slot.slot_id]


def start_skewed_worker(procs: Procs, skew_s: float) -> Proc:
    """A forking ``rq worker`` (the deployment's class) whose host clock is ``skew_s`` off."""
    rq_name = f"skewed-{uuid.uuid4().hex[:8]}"
    argv = [sys.executable, "-m", "tests.skewed_worker", repr(skew_s), QUEUE]
    argv += ["--url", procs.redis_url, "--name", rq_name, "--worker-class", WORKER_CLASS]
    argv += ["--path", str(REPO)]
    proc = procs._start("skewed-worker", argv)
    proc.rq_name = rq_name
    return proc


def test_a_run_on_a_slow_host_is_not_taken_for_dead(make_rig: Callable[..., Rig]) -> None:
    """A worker whose host clock is 10 minutes slow: its running claim is left alone.

    RQ's started registry scores the run with the worker's own clock (now + 90 s, ten
    minutes in the past by Redis TIME); liveness reads server-side state only.
    """
    rig = make_rig("rq-scheduler", 1.0, TIMING_MIN_GAP_MINUTES=1, HOURLY_LIMIT=6)
    rig.procs.wait_ready([rig.procs.start_rqscheduler(), start_skewed_worker(rig.procs, -600)])
    handler.script(rig.client, rig.slot_id(0), "block")
    (slot,) = rig.plan([rig.live.clock() - V0 + timedelta(seconds=2)])
    rig.wait(lambda: handler.calls(rig.client).get(slot.slot_id) == 1, "the handler to start")
    # The skew is real: by Redis TIME the run's registry entry expired long ago.
    wip = StartedJobRegistry(queue=Queue(QUEUE, connection=rig.client)).key
    scores = [score for _, score in rig.client.zrange(wip, 0, -1, withscores=True)]
    server_now = rig.live.clock.real_now().timestamp()
    assert scores and all(score < server_now - 400 for score in scores), scores
    assert recover_stale_claims(rig.live, this_week(rig), rig.live.clock()) == []
    assert rig.slot(slot.slot_id).status is Status.CLAIMED
    rig.client.rpush(handler.release_key(slot.slot_id), "go")
    rig.wait_terminal([slot])
    assert rig.slot(slot.slot_id).status is Status.DONE
    assert handler.calls(rig.client) == {slot.slot_id: 1}


@pytest.mark.parametrize("backend", BACKENDS)
def test_jobs_scheduled_in_one_batch_run_once_and_rescheduling_adds_none(
    make_rig: Callable[..., Rig], backend: str
) -> None:
    """ensure_jobs' one pipelined schedule_many: real workers run every job; again: none."""
    rig = make_rig(backend, 60.0, TIMING_MIN_GAP_MINUTES=1, HOURLY_LIMIT=6)
    rig.procs.start_backend(backend, workers=1)
    now = rig.live.clock()
    slots = rig.plan([now - V0 + timedelta(minutes=2 * (i + 1)) for i in range(3)])  # 3 new
    plan = this_week(rig)
    scheduled_key = rig.live.queue._scheduled_key  # type: ignore[attr-defined]
    before = rig.client.zcard(scheduled_key)
    assert ensure_jobs(rig.live, plan) == 0
    jobs = [
        DelayedJob(
            s.slot_id, rig.live.clock.to_real(s.scheduled_at), RUN_SLOT, (ACCOUNT, s.slot_id)
        )
        for s in slots
    ]
    assert rig.live.queue.schedule_many(jobs) == 0
    assert rig.client.zcard(scheduled_key) == before
    rig.wait_terminal(slots)
    assert rig.statuses(slots) == {s.slot_id: Status.DONE for s in slots}
    assert handler.calls(rig.client) == {s.slot_id: 1 for s in slots}
    # Finished jobs are not scheduled again either (their slots are no longer open).
    assert ensure_jobs(rig.live, this_week(rig)) == 0


def test_horse_outliving_its_worker_ends_its_job_without_error(
    make_rig: Callable[..., Rig],
) -> None:
    """A work horse that finishes after its claim was turned unknown does not fail its job."""
    rig = make_rig("rq-scheduler", 1.0, TIMING_MIN_GAP_MINUTES=1, HOURLY_LIMIT=6)
    (worker,) = [p for p in rig.procs.start_backend("rq-scheduler") if p.rq_name]
    handler.script(rig.client, rig.slot_id(0), "block")
    (slot,) = rig.plan([rig.live.clock() - V0 + timedelta(seconds=2)])
    rig.wait(lambda: handler.calls(rig.client).get(slot.slot_id) == 1, "the handler to start")
    # Only the worker dies (kill -9 of its pid, or the OOM killer): RQ's horse has a process
    # group of its own and goes on with the action, with nobody sending its heartbeat.
    os.kill(worker.pid, signal.SIGKILL)
    worker.popen.wait(timeout=10)
    StartedJobRegistry(queue=Queue(QUEUE, connection=rig.client)).cleanup(time.time() + 3600)
    assert recover_stale_claims(rig.live, this_week(rig), rig.live.clock()) == [slot.slot_id]
    rig.client.rpush(handler.release_key(slot.slot_id), "go")  # the action completes
    job = Job.fetch(slot.slot_id, connection=rig.client)
    rig.wait(lambda: len(job.results()) >= 2, "the horse to report")  # after the abandonment
    assert handler.calls(rig.client) == {slot.slot_id: 1}
    latest = job.latest_result()
    assert latest is not None and latest.type is latest.Type.SUCCESSFUL, latest.exc_string


# ---- 3. one slot delivered several times -----------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_slot_delivered_several_times_calls_handler_once(
    make_rig: Callable[..., Rig], backend: str
) -> None:
    """A slot job scheduled twice, copied and delivered twice runs the handler once."""
    rig = make_rig(backend, 1.0, TIMING_MIN_GAP_MINUTES=1, HOURLY_LIMIT=6)
    rig.procs.start_backend(backend, workers=2)
    handler.script(rig.client, rig.slot_id(0), "sleep:1.0")  # widen the race
    (slot,) = rig.plan([rig.live.clock() - V0 + timedelta(seconds=2)])
    # Scheduling it again is a no-op for both backends.
    assert not schedule_slot(rig.live, slot)
    assert not rig.live.queue.schedule(
        slot.slot_id, rig.live.clock.to_real(slot.scheduled_at), RUN_SLOT, (ACCOUNT, slot.slot_id)
    )
    queue = Queue(QUEUE, connection=rig.client)
    rig.wait_virtual(slot.scheduled_at)
    # Due now: two more copies race the scheduled delivery, and the scheduled job's id is
    # pushed onto the queue a second time (what a scheduler moving a job twice does).
    copies = [
        queue.enqueue(RUN_SLOT, ACCOUNT, slot.slot_id, job_id=f"{slot.slot_id}-copy{i}")
        for i in range(2)
    ]
    rig.wait(lambda: rig.live.queue.scheduled_at(slot.slot_id) is None, "the delivery")
    rig.client.rpush(f"rq:queue:{QUEUE}", slot.slot_id)
    rig.wait_terminal([slot])
    ids = [slot.slot_id, *(c.id for c in copies)]

    def all_finished() -> bool:
        jobs = [Job.fetch(jid, connection=rig.client) for jid in ids]
        idle = not rig.client.llen(f"rq:queue:{QUEUE}") and not StartedJobRegistry(queue=queue)
        return idle and all(j.get_status() == "finished" for j in jobs)

    rig.wait(all_finished, "every delivery to finish")
    # Four runs (the scheduled job twice, two copies): one acted, three found it taken.
    results = Counter(
        r.return_value for jid in ids for r in Job.fetch(jid, connection=rig.client).results()
    )
    assert results == {"done": 1, "ignored": 3}
    late = queue.enqueue(RUN_SLOT, ACCOUNT, slot.slot_id, job_id=f"{slot.slot_id}-late")
    rig.wait(lambda: late.get_status(refresh=True) == "finished", "the late copy to finish")
    assert late.return_value() == "ignored"
    assert handler.calls(rig.client) == {slot.slot_id: 1}
    assert rig.slot(slot.slot_id).status is Status.DONE


# ---- 4. the scheduler stopped past the tolerance ---------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_scheduler_outage_retimes_or_misses_overdue_slots(
    make_rig: Callable[..., Rig], backend: str
) -> None:
    """Scheduler down past the tolerance: overdue slots re-timed or missed, caps and gap hold."""
    rig = make_rig(
        backend,
        60.0,
        TIMING_MIN_GAP_MINUTES=2,
        HOURLY_LIMIT=3,
        LATE_TOLERANCE_MINUTES=3,
    )
    procs = rig.procs.start_backend(backend, workers=1)
    scheduler = procs[0]  # rqscheduler, or the worker that runs RQ's scheduler
    base = rig.live.clock() - V0
    # 12 virtual minutes (12 s) between the first slot and the overdue ones: the first must
    # run and the scheduler stop in between, which took 11 s on a heavily loaded machine.
    minutes = [3, 15, 16, 17, 27]
    slots = rig.plan([base + timedelta(minutes=m) for m in minutes])
    first, overdue, _later = slots[0], slots[1:4], slots[4]
    rig.wait_terminal([first])
    rig.procs.terminate(scheduler)
    stopped_at = rig.live.clock()
    assert stopped_at < overdue[0].scheduled_at, "the scheduler stopped too late"
    tolerance = timedelta(minutes=rig.settings.LATE_TOLERANCE_MINUTES)
    rig.wait_virtual(overdue[-1].scheduled_at + tolerance + timedelta(seconds=30))
    restarted_at = rig.live.clock()
    if backend == "rq-scheduler":
        again = rig.procs.start_rqscheduler()
    else:
        # The stopped worker's scheduler gave its lock back; the new one takes it.
        assert not rig.client.exists(f"rq:scheduler-lock:{QUEUE}")
        again = rig.procs.start_worker(with_scheduler=True, name="worker-again")
    rig.procs.wait_ready([again])
    rig.wait_terminal(slots)

    assert rig.slot(first.slot_id).status is Status.DONE
    # Each overdue slot was claimed late at the restart and either missed there, or moved
    # after the restart (and then run, or missed if the guard refused it again).
    moved = 0
    for s in overdue:
        e = rig.slot(s.slot_id)
        assert e.status in (Status.DONE, Status.MISSED), (s.slot_id, e.status)
        if e.scheduled_at == s.scheduled_at:
            assert e.status is Status.MISSED and e.reason.startswith("late"), e.reason
            assert e.claimed_at is not None and e.claimed_at >= restarted_at
        else:
            assert e.scheduled_at > restarted_at and e.attempts >= 2
            moved += 1
    # Hourly cap 3 with the first and the last slot planned in the same hour: one overdue
    # slot has room; the others are missed rather than crowded in.
    assert moved >= 1
    statuses = Counter(rig.statuses(slots).values())
    assert statuses[Status.DONE] <= 3 and statuses[Status.MISSED] >= 2
    assert_ran_at_most_once(rig, slots)
    assert_caps_and_gap(rig, slots)
