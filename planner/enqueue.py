"""Delayed jobs: one small adapter over rq-scheduler and RQ's built-in scheduler.

Jobs are enqueued by dotted path (``worker.jobs.run_slot``), so the planner never imports
the worker. Every instant handed to RQ is aware UTC: RQ shifts naive datetimes on DST
zones, and rq-scheduler reads them as UTC. Scheduling the same job id twice is a no-op,
so running ``generate-week`` again never duplicates a job.

Neither backend holds anything back after an outage: every overdue job fires at once. That
is fine because the job itself claims its slot first and checks lateness (DESIGN.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

import redis

from planner.clock import ensure_aware_utc

RUN_SLOT = "worker.jobs.run_slot"
WEEK_CHAIN = "worker.jobs.chain_tick"
JOB_TIMEOUT_S = 15 * 60  # a handler call that takes longer is abandoned by RQ
RESULT_TTL_S = 7 * 86_400


class DelayedQueue(Protocol):
    """Where delayed jobs go; ids are caller-chosen and idempotent."""

    def schedule(self, job_id: str, at: datetime, func: str, args: tuple[Any, ...]) -> bool:
        """Schedule ``func(*args)`` at ``at`` unless ``job_id`` is already scheduled."""
        ...

    def cancel(self, job_ids: Iterable[str]) -> int:
        """Remove scheduled jobs that have not started; how many were removed."""
        ...

    def scheduled_at(self, job_id: str) -> datetime | None:
        """When ``job_id`` is due, or None if it is not scheduled."""
        ...


class RqSchedulerQueue:
    """rq-scheduler: a separate ``rqscheduler`` process moves due jobs onto the queue."""

    def __init__(self, connection: redis.Redis, queue_name: str) -> None:
        from rq_scheduler import Scheduler  # noqa: PLC0415 - heavy import, only when used

        self._scheduler = Scheduler(queue_name=queue_name, connection=connection)
        self._connection = connection

    def schedule(self, job_id: str, at: datetime, func: str, args: tuple[Any, ...]) -> bool:
        if self.scheduled_at(job_id) is not None:
            return False
        # rq-scheduler stores a naive UTC timestamp; it reads whatever it gets as UTC.
        naive_utc = whole_second(at).replace(tzinfo=None)
        self._scheduler.enqueue_at(
            naive_utc,
            func,
            *args,
            job_id=job_id,
            timeout=JOB_TIMEOUT_S,
            job_result_ttl=RESULT_TTL_S,  # rq-scheduler's name; any other keyword goes to func
        )
        return True

    def cancel(self, job_ids: Iterable[str]) -> int:
        removed = 0
        for job_id in job_ids:
            if self._connection.zrem(self._scheduler.scheduled_jobs_key, job_id):
                self._connection.delete(f"rq:job:{job_id}")
                removed += 1
        return removed

    def scheduled_at(self, job_id: str) -> datetime | None:
        score = self._connection.zscore(self._scheduler.scheduled_jobs_key, job_id)
        if score is None:
            return None
        from datetime import UTC  # noqa: PLC0415

        return datetime.fromtimestamp(float(score), tz=UTC)


class RqBuiltinQueue:
    """RQ's own scheduler: run workers with ``rq worker --with-scheduler``."""

    def __init__(self, connection: redis.Redis, queue_name: str) -> None:
        from rq import Queue  # noqa: PLC0415
        from rq.registry import ScheduledJobRegistry  # noqa: PLC0415

        self._queue = Queue(queue_name, connection=connection)
        self._registry = ScheduledJobRegistry(queue=self._queue)  # type: ignore[no-untyped-call]

    def schedule(self, job_id: str, at: datetime, func: str, args: tuple[Any, ...]) -> bool:
        from rq.exceptions import DuplicateJobError  # noqa: PLC0415

        job = self._queue.create_job(
            func, args=args, job_id=job_id, timeout=JOB_TIMEOUT_S, result_ttl=RESULT_TTL_S
        )
        try:
            # enqueue_at ignores unique=True; create_job + schedule_job(unique) is atomic.
            self._queue.schedule_job(job, whole_second(at), unique=True)
        except DuplicateJobError:
            return False
        return True

    def cancel(self, job_ids: Iterable[str]) -> int:
        removed = 0
        for job_id in job_ids:
            if job_id in self._registry:
                self._registry.remove(job_id, delete_job=True)
                removed += 1
        return removed

    def scheduled_at(self, job_id: str) -> datetime | None:
        try:
            when: datetime = self._registry.get_scheduled_time(job_id)
        except Exception:
            return None
        return ensure_aware_utc(when, what="scheduled time")


def whole_second(at: datetime) -> datetime:
    """Both backends keep whole seconds; the job waits out the fraction (worker.execute)."""
    return ensure_aware_utc(at, what="job time").replace(microsecond=0)


def delayed_queue(connection: redis.Redis, backend: str, queue_name: str) -> DelayedQueue:
    """The adapter for SCHEDULER_BACKEND (``rq-scheduler`` or ``rq``)."""
    if backend == "rq-scheduler":
        return RqSchedulerQueue(connection, queue_name)
    if backend == "rq":
        return RqBuiltinQueue(connection, queue_name)
    raise ValueError(f"SCHEDULER_BACKEND={backend!r}: expected 'rq-scheduler' or 'rq'")


def slot_job_id(slot_id: str, generation: int = 0) -> str:
    """The job id of a slot's run; a re-timed run gets the next generation."""
    return slot_id if generation == 0 else f"{slot_id}-r{generation}"
