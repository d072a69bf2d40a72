"""Per-action overhead: a slot run through RQ against a no-op RQ job, same worker, same server.

Both sides enqueue N jobs on one queue and drain them with one burst worker; the time per
job is the drain time over N. One side's job is a function that does nothing; the other's
is ``execute_slot`` for a pending slot with the dry-run handler: read, claim, check the time,
reserve in the guard, call the handler, record the outcome in the slot and the ledger,
breaker and outbox, reading the clock from Redis ``TIME`` as a worker does (and, like
``worker.jobs.run_slot``, with one Guard per account kept by the process). Caps and the
gap are lifted so every slot runs the whole path; the slots are spread over accounts of
100 profiles, one slot per profile, so no slot is skipped (a profile engaged today is not
engaged again) and each ledger stays the size of a real account's. The two sides run in
alternating rounds and each keeps its best round: on a shared machine a burst of load
only ever adds time, so the minimum is the least disturbed measurement of each side.

Two worker classes, each against itself:

- ``rq.SimpleWorker``: jobs run in the worker's own process, no fork. RQ's cheapest path,
  where our share of the time shows most (``per_action_overhead``).
- RQ's forking ``Worker``, which the deployed ``worker.rq_worker.EngagementWorker`` is
  (docker-compose, ``planner worker``): a fresh work horse per job
  (``per_action_overhead_forking``): the overhead a user's workers pay per action.

Both carry the target.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from typing import Any, NamedTuple

import numpy as np
import redis
from rq import Queue, SimpleWorker, Worker
from rq.job import Job

from benchmarks.model import Entry
from config.settings import Settings
from planner.guard import Guard
from planner.service import Live
from planner.weekly_plan import DailySlot, ScheduledEngagement, WeeklyPlan, slot_id_for, week_monday
from worker.execute import execute_slot
from worker.handlers import Handler, build_handler

TARGET_RATIO = 1.2
CHUNK = 200  # jobs per drain
FORKED_CHUNK = 40  # a work horse per job: ~10 ms each before any job code
MIN_ROUNDS = 5  # alternating drains per side at least; each side keeps its fastest
ACCOUNT = "benchact"
PROFILES = 100
BIG = 10**9

_state: dict[str, Any] = {}  # what the jobs below need; SimpleWorker runs them in-process


def noop() -> None:
    """The baseline job: RQ's own machinery and nothing else."""
    _state["last_job_at"] = time.perf_counter()


def run_bench_slot(account: str, slot_id: str) -> str:
    """The measured job: one slot through ``execute_slot`` (as ``worker.jobs.run_slot``)."""
    lives: dict[str, Live] = _state["lives"]
    guards: dict[str, Guard] = _state["guards"]
    if account not in lives:
        lives[account] = Live.connect(_state["client"], _state["settings"], account)
        guards[account] = Guard(_state["client"], _state["settings"], account)
    handler: Handler = _state["handler"]
    live, rng = lives[account], _state["rng"]
    status = execute_slot(live, handler, rng, slot_id, guard=guards[account]).status
    _state["last_job_at"] = time.perf_counter()
    return status


def action_settings() -> Settings:
    return Settings(
        _env_file=None,
        HOURLY_LIMIT=BIG,
        DAILY_LIMIT=BIG,
        WEEKLY_LIMIT=BIG,
        TIMING_MIN_GAP_MINUTES=0.0,
        OPERATING_START=clock_time(0, 0),
        OPERATING_END=clock_time(23, 59, 59),
        LATE_TOLERANCE_MINUTES=10.0**6,
    )


def _store_slots(live: Live, n: int, now: datetime) -> list[tuple[str, str]]:
    """A plan for today with ``n`` pending slots, all due now, one per profile."""
    today = now.date()
    account = live.account
    slots = [
        ScheduledEngagement(
            slot_id=slot_id_for(account, today, i),
            index=i,
            linkedin_url=f"https://www.linkedin.com/in/{account}-{i:03d}",
            name=f"Member {i}",
            scheduled_time=f"{now:%H:%M}",
            scheduled_at=now,
            priority_score=1.0,
            days_since_last_like=3.0,
            forced=False,
        )
        for i in range(n)
    ]
    monday = week_monday(today)
    plan = WeeklyPlan(
        account=account,
        timezone="UTC",
        week_start=monday,
        week_number=monday.isocalendar()[1],
        created_at=now,
        days={today.isoformat(): DailySlot(date=today, budget=n, engagements=slots)},
    )
    live.store.save_week(plan, replace=True)
    return [(account, s.slot_id) for s in slots]


def _drain(client: redis.Redis, queue: Queue, jobs: list[tuple[str, tuple[Any, ...]]]) -> float:
    """Seconds for a burst SimpleWorker to run ``jobs`` (enqueued before the clock starts).

    From the worker's start to the end of the last job's function: the worker's exit is
    left out, because it joins a background thread and sometimes waits up to a second for
    it, which would land on one side or the other at random (5 ms per job in a round of
    200). Both sides leave out the same thing: the last job's result bookkeeping and exit.
    """
    for func, args in jobs:
        queue.enqueue(func, *args)
    worker = SimpleWorker([queue], connection=client)
    started = time.perf_counter()
    worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
    return float(_state["last_job_at"]) - started


def _drain_forked(
    client: redis.Redis, queue: Queue, jobs: list[tuple[str, tuple[Any, ...]]]
) -> float:
    """Seconds for a burst forking ``rq.Worker`` (a horse per job) to run ``jobs``.

    RQ's Worker is what the deployed ``EngagementWorker`` runs jobs with; that subclass also
    builds the runtime from the environment at start, which these jobs do not use.

    From the worker's start to the last job's end as RQ records it (the horse's clock,
    this host's), leaving the worker's exit out as ``_drain`` does.
    """
    enqueued = [queue.enqueue(func, *args) for func, args in jobs]
    worker = Worker([queue], connection=client)
    started = datetime.now(UTC)
    worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
    fetched = Job.fetch_many([j.id for j in enqueued], connection=client)
    ends = [job.ended_at for job in fetched if job is not None and job.ended_at is not None]
    if len(ends) != len(enqueued):
        raise RuntimeError("a benchmark job did not finish; see the worker's log")
    last = max(end.replace(tzinfo=UTC) for end in ends)
    return (last - started).total_seconds()


def measure(url: str, n: int) -> list[Entry]:
    client = redis.Redis.from_url(url)
    settings = action_settings()
    rng = np.random.default_rng(1)
    handler = build_handler(settings, rng=rng)
    _state.update(client=client, settings=settings, lives={}, guards={}, handler=handler, rng=rng)
    queue = Queue("bench", connection=client)
    now = Live.connect(client, settings, ACCOUNT).clock() - timedelta(seconds=1)

    def slots(prefix: str, count: int) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for k in range(0, count, PROFILES):
            live = Live.connect(client, settings, f"{prefix}{k // PROFILES:03d}")
            out += _store_slots(live, min(PROFILES, count - k), now)
            # Built before the worker starts, as a worker process keeps them: a forked horse
            # inherits them (and reconnects to Redis, as a deployed horse does).
            _state["lives"][live.account] = live
            _state["guards"][live.account] = Guard(client, settings, live.account)
        return out

    run = f"{__name__}.run_bench_slot"
    _drain(client, queue, [(f"{__name__}.noop", ())] * 10)  # imports, scripts, connections
    _drain(client, queue, [(run, args) for args in slots("benchwarm", 10)])
    forked = _compare(
        slots,
        lambda jobs: _drain_forked(client, queue, jobs),
        tag="f",
        chunk=min(n, FORKED_CHUNK),
        n=0,
    )
    simple = _compare(
        slots, lambda jobs: _drain(client, queue, jobs), tag="s", chunk=min(n, CHUNK), n=n
    )
    done = sum(
        s.status.value == "done"
        for live in _state["lives"].values()
        if live.account.startswith(ACCOUNT)
        for s in live.store.slots_of_day(live.account, now.date())
    )
    ran = forked.rounds * forked.chunk + simple.rounds * simple.chunk
    client.close()
    return [
        Entry(
            name="per_action_overhead",
            value=simple.full * 1000,
            unit="ms/job",
            target=TARGET_RATIO,
            on_ratio=True,
            baseline=simple.bare * 1000,
            baseline_what="no-op RQ job, same SimpleWorker and server",
            note=(
                f"SimpleWorker, no fork (RQ's cheapest path); best of {simple.rounds} "
                f"alternating rounds of {simple.chunk} jobs each side; {done} of {ran} slots "
                "(both classes) ran the whole path to done"
            ),
        ),
        Entry(
            name="per_action_overhead_forking",
            value=forked.full * 1000,
            unit="ms/job",
            target=TARGET_RATIO,
            on_ratio=True,
            baseline=forked.bare * 1000,
            baseline_what="no-op RQ job, same forking Worker and server",
            note=(
                f"RQ's forking Worker, as deployed (EngagementWorker): a horse per job; best "
                f"of {forked.rounds} alternating rounds of {forked.chunk} jobs each side"
            ),
        ),
    ]


class _Compared(NamedTuple):
    bare: float  # seconds per no-op job, best round
    full: float  # seconds per slot job, best round
    rounds: int
    chunk: int


def _compare(
    slots: Callable[[str, int], list[tuple[str, str]]],
    drain: Callable[[list[tuple[str, tuple[Any, ...]]]], float],
    *,
    tag: str,
    chunk: int,
    n: int,
) -> _Compared:
    run = f"{__name__}.run_bench_slot"
    bares: list[float] = []
    fulls: list[float] = []
    rounds = max(MIN_ROUNDS, -(-n // chunk))
    for round_ in range(rounds):
        measured: list[tuple[str, tuple[Any, ...]]] = [
            (run, args) for args in slots(f"{ACCOUNT}{tag}{round_}x", chunk)
        ]
        noops: list[tuple[str, tuple[Any, ...]]] = [(f"{__name__}.noop", ())] * chunk
        # Alternate which side goes first, so a burst of load on the shared machine
        # does not always fall on the same side; each side keeps its best round.
        first, second = (noops, measured) if round_ % 2 == 0 else (measured, noops)
        a = drain(first) / chunk
        b = drain(second) / chunk
        bare, full = (a, b) if round_ % 2 == 0 else (b, a)
        bares.append(bare)
        fulls.append(full)
    return _Compared(min(bares), min(fulls), rounds, chunk)
