"""Per-action overhead: a slot run through RQ against a no-op RQ job, same worker, same server.

The measured job is ``execute_slot`` for a pending slot with the dry-run handler, as
``worker.jobs.run_slot`` runs it (one Guard per account kept by the process): start the run
(read the server clock, claim, reserve in the guard), call the handler, record the outcome
in the slot, the ledger, the breaker and the outbox. The baseline job does nothing and
returns what the slot job returns, so RQ's own bookkeeping (the result it stores) is the
same on both sides. Caps and the gap are lifted so every slot runs the whole path; the
slots are spread over accounts of 100 profiles, one slot per profile, so none is skipped (a
profile engaged today is not engaged again) and each ledger stays the size of a real one.

How it is timed: the two kinds of job alternate in one queue (no-op, slot, no-op, slot, ...;
the next drain starts with the other kind), a burst worker drains it, and each job's cost
is the time between the end RQ records for it and for the job before (RQ's work after a
job, its dequeue of the next, and that job). Each side's value is the median of its jobs.
Interleaving puts both sides under the same load from the rest of the machine, moment by
moment; the median ignores the jobs a burst of that load hit. (Timing each side in rounds
of its own, and keeping each side's fastest round, read a job that busy-waits 1.0 ms as
1.5 ms more than a no-op on this project's 2-core machine: a side's longer round has less
chance to fall in a quiet spell. Interleaved, the same job read 0.8-0.9 ms more.)

Two worker classes, each against itself:

- ``rq.SimpleWorker``: jobs run in the worker's own process, no fork. RQ's cheapest path,
  where our share of the time shows most (``per_action_overhead``).
- RQ's forking ``Worker``, which the deployed ``worker.rq_worker.EngagementWorker`` is
  (docker-compose, ``planner worker``): a fresh work horse per job
  (``per_action_overhead_forking``): the overhead a user's workers pay per action.

Both carry the target.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable
from datetime import datetime, timedelta
from datetime import time as clock_time
from typing import Any, NamedTuple

import numpy as np
import redis
from rq import Queue, SimpleWorker, Worker
from rq.job import Job
from rq.worker import BaseWorker

from benchmarks.model import Entry
from config.settings import Settings
from planner.guard import Guard
from planner.service import Live
from planner.weekly_plan import DailySlot, ScheduledEngagement, WeeklyPlan, slot_id_for, week_monday
from worker.execute import execute_slot
from worker.handlers import Handler, build_handler

TARGET_RATIO = 1.2
PAIRS = 200  # no-op + slot pairs per drain, SimpleWorker
FORKED_PAIRS = 40  # a work horse per job: ~30 ms each
DRAINS = 4  # drains per worker class at least (alternating which kind goes first)
ACCOUNT = "benchact"
PROFILES = 100
BIG = 10**9
RESULT = "done"  # what both jobs return

_state: dict[str, Any] = {}  # what the jobs below need; SimpleWorker runs them in-process


def noop() -> str:
    """The baseline job: RQ's own machinery and nothing else."""
    return RESULT


def run_bench_slot(account: str, slot_id: str) -> str:
    """The measured job: one slot through ``execute_slot`` (as ``worker.jobs.run_slot``)."""
    lives: dict[str, Live] = _state["lives"]
    guards: dict[str, Guard] = _state["guards"]
    if account not in lives:
        lives[account] = Live.connect(_state["client"], _state["settings"], account)
        guards[account] = Guard(_state["client"], _state["settings"], account)
    handler: Handler = _state["handler"]
    live, rng = lives[account], _state["rng"]
    return execute_slot(live, handler, rng, slot_id, guard=guards[account]).status


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


Jobs = list[tuple[str, tuple[Any, ...]]]


def _drain(
    client: redis.Redis, queue: Queue, worker_class: type[BaseWorker], jobs: Jobs
) -> list[float]:
    """Run ``jobs`` (enqueued first) with a burst worker; the seconds each job after the
    first cost: from the end RQ recorded for the job before it to its own."""
    enqueued = [queue.enqueue(func, *args) for func, args in jobs]
    worker = worker_class([queue], connection=client)
    worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
    fetched = Job.fetch_many([j.id for j in enqueued], connection=client)
    ends = [job.ended_at for job in fetched if job is not None and job.ended_at is not None]
    if len(ends) != len(enqueued):
        raise RuntimeError("a benchmark job did not finish; see the worker's log")
    return [(b - a).total_seconds() for a, b in itertools.pairwise(ends)]


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
    # imports, scripts, connections
    _drain(client, queue, SimpleWorker, [(f"{__name__}.noop", ())] * 10)
    _drain(client, queue, SimpleWorker, [(run, args) for args in slots("benchwarm", 10)])
    forked = _compare(client, queue, Worker, slots, tag="f", pairs=min(n, FORKED_PAIRS), n=0)
    simple = _compare(client, queue, SimpleWorker, slots, tag="s", pairs=min(n, PAIRS), n=n)
    done = sum(
        s.status.value == "done"
        for live in _state["lives"].values()
        if live.account.startswith(ACCOUNT)
        for s in live.store.slots_of_day(live.account, now.date())
    )
    ran = forked.slots + simple.slots
    client.close()
    if done != ran:
        # A job that failed costs less than one that ran: its time would flatter the ratio.
        raise RuntimeError(f"{ran - done} of {ran} benchmark slots did not run to done")
    return [
        _entry(
            "per_action_overhead",
            simple,
            "SimpleWorker",
            f"SimpleWorker, no fork (RQ's cheapest path); {simple.medians}; {done} of {ran} "
            "slots (both classes) ran the whole path to done",
        ),
        _entry(
            "per_action_overhead_forking",
            forked,
            "forking Worker",
            f"RQ's forking Worker, as deployed (EngagementWorker): a horse per job; "
            f"{forked.medians}",
        ),
    ]


def _entry(name: str, compared: _Compared, worker: str, note: str) -> Entry:
    return Entry(
        name=name,
        value=compared.slot * 1000,
        unit="ms/job",
        target=TARGET_RATIO,
        on_ratio=True,
        baseline=compared.noop * 1000,
        baseline_what=f"no-op RQ job, same {worker} and server",
        note=note,
    )


class _Compared(NamedTuple):
    noop: float  # seconds per no-op job, median
    slot: float  # seconds per slot job, median
    slots: int  # slot jobs run (as many no-op jobs)

    @property
    def medians(self) -> str:
        return f"medians of {self.slots} slot and {self.slots} no-op jobs, interleaved"


def _compare(
    client: redis.Redis,
    queue: Queue,
    worker_class: type[BaseWorker],
    slots: Callable[[str, int], list[tuple[str, str]]],
    *,
    tag: str,
    pairs: int,
    n: int,
) -> _Compared:
    run = f"{__name__}.run_bench_slot"
    noops: list[float] = []
    fulls: list[float] = []
    drains = max(DRAINS, -(-n // pairs))
    for drain in range(drains):
        measured = [(run, args) for args in slots(f"{ACCOUNT}{tag}{drain}x", pairs)]
        jobs: Jobs = []
        for slot_job in measured:
            pair: Jobs = [(f"{__name__}.noop", ()), slot_job]
            jobs += pair if drain % 2 == 0 else pair[::-1]
        costs = _drain(client, queue, worker_class, jobs)
        # costs[k] is the cost of job k + 1: a no-op when (k + 1) is even in an even drain
        first_noop = drain % 2 == 0
        for k, cost in enumerate(costs, start=1):
            (noops if (k % 2 == 0) == first_noop else fulls).append(cost)
    return _Compared(statistics.median(noops), statistics.median(fulls), drains * pairs)
