"""Per-action overhead: a slot run through RQ against a no-op RQ job, same worker, same server.

Both sides enqueue N jobs on one queue and drain them with ``rq.SimpleWorker`` in burst mode
(the jobs run in this process, so neither side pays for a fork per job); the time per job
is the drain time over N. One side's job is a function that does nothing; the other's is
``execute_slot`` for a pending slot with the dry-run handler: load, claim, check the time,
reserve in the guard, call the handler, record the outcome in the slot and the ledger,
breaker and outbox, reading the clock from Redis ``TIME`` as a worker does. Caps and the
gap are lifted so every slot runs the whole path; 100 profiles take turns, so the ledger
stays the size of a real account's.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from datetime import time as clock_time
from typing import Any

import numpy as np
import redis
from rq import Queue, SimpleWorker

from benchmarks.model import Entry
from config.settings import Settings
from planner.service import Live
from planner.weekly_plan import DailySlot, ScheduledEngagement, WeeklyPlan, slot_id_for, week_monday
from worker.execute import execute_slot
from worker.handlers import Handler, build_handler

TARGET_RATIO = 1.2
ACCOUNT = "benchact"
PROFILES = 100
BIG = 10**9

_state: dict[str, Any] = {}  # what the jobs below need; SimpleWorker runs them in-process


def noop() -> None:
    """The baseline job: RQ's own machinery and nothing else."""


def run_bench_slot(slot_id: str) -> str:
    """The measured job: one slot through ``execute_slot`` (as ``worker.jobs.run_slot``)."""
    live: Live = _state["live"]
    handler: Handler = _state["handler"]
    return execute_slot(live, handler, _state["rng"], slot_id).status


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


def _store_slots(live: Live, n: int, now: datetime) -> list[str]:
    """A plan for today with ``n`` pending slots, all due now."""
    today = now.date()
    slots = [
        ScheduledEngagement(
            slot_id=slot_id_for(ACCOUNT, today, i),
            index=i,
            linkedin_url=f"https://www.linkedin.com/in/member-{i % PROFILES:03d}",
            name=f"Member {i % PROFILES}",
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
        account=ACCOUNT,
        timezone="UTC",
        week_start=monday,
        week_number=monday.isocalendar()[1],
        created_at=now,
        days={today.isoformat(): DailySlot(date=today, budget=n, engagements=slots)},
    )
    live.store.save_week(plan, replace=True)
    return [s.slot_id for s in slots]


def _drain(client: redis.Redis, queue: Queue, jobs: list[tuple[str, tuple[Any, ...]]]) -> float:
    """Seconds for a burst SimpleWorker to run ``jobs`` (enqueued before the clock starts)."""
    for func, args in jobs:
        queue.enqueue(func, *args)
    worker = SimpleWorker([queue], connection=client)
    started = time.perf_counter()
    worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
    return time.perf_counter() - started


def measure(url: str, n: int) -> list[Entry]:
    client = redis.Redis.from_url(url)
    settings = action_settings()
    live = Live.connect(client, settings, ACCOUNT)
    rng = np.random.default_rng(1)
    _state.update(live=live, handler=build_handler(settings, rng=rng), rng=rng)
    queue = Queue("bench", connection=client)
    now = live.clock() - timedelta(seconds=1)
    warm = _store_slots(live, 10, now)
    _drain(client, queue, [(f"{__name__}.noop", ())] * 10)
    _drain(client, queue, [(f"{__name__}.run_bench_slot", (s,)) for s in warm])
    ids = _store_slots(live, n, now)
    bare = _drain(client, queue, [(f"{__name__}.noop", ())] * n) / n
    full = _drain(client, queue, [(f"{__name__}.run_bench_slot", (s,)) for s in ids]) / n
    done = sum(1 for s in live.store.slots_of_day(ACCOUNT, now.date()) if s.status.value == "done")
    client.close()
    return [
        Entry(
            name="per_action_overhead",
            value=full * 1000,
            unit="ms/job",
            target=TARGET_RATIO,
            on_ratio=True,
            baseline=bare * 1000,
            baseline_what="no-op RQ job, same SimpleWorker and server",
            note=f"{n} jobs each side, {done} slots ended done",
        )
    ]
