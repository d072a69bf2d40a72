"""Delayed jobs: one small adapter over rq-scheduler and RQ's built-in scheduler.

Jobs are enqueued by dotted path (``worker.jobs.run_slot``), so the planner never imports
the worker. Every instant handed to RQ is aware UTC: RQ shifts naive datetimes on DST
zones, and rq-scheduler reads them as UTC. Scheduling the same job id twice is a no-op,
so running ``generate-week`` again never duplicates a job.

Neither backend holds anything back after an outage: every overdue job fires at once. That
is fine because the job itself claims its slot first and checks lateness (DESIGN.md).

Reading (``scheduled_at``, ``scheduled_many``) is plain Redis on RQ's key names, so
``status`` never imports rq; rq loads when a job is written. ``schedule_many`` writes a
whole week's jobs in one round trip, each job checked and written atomically: for
rq-scheduler one script call for the batch (the fields the jobs share sent once), for RQ's
scheduler RQ's own unique-schedule script once per job, pipelined. Both store exactly what
the libraries' own calls store (tests/test_enqueue.py compares them).
"""

from __future__ import annotations

import calendar
import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import redis

from planner.clock import ensure_aware_utc

if TYPE_CHECKING:
    from rq.job import Job

RUN_SLOT = "worker.jobs.run_slot"
WEEK_CHAIN = "worker.jobs.chain_tick"
JOB_TIMEOUT_S = 15 * 60  # a handler call that takes longer is abandoned by RQ
RESULT_TTL_S = 7 * 86_400

# RQ's and rq-scheduler's key names (tests/test_enqueue.py and tests/test_liveness.py check
# them against both libraries), so reads need neither import. RQ prefixes its keys with
# RQ_KEY_PREFIX from the environment (default "rq"); rq-scheduler's set is fixed.
RQ_PREFIX = os.environ.get("RQ_KEY_PREFIX", "rq")
RQ_SCHEDULER_KEY = "rq:scheduler:scheduled_jobs"  # rq_scheduler.Scheduler.scheduled_jobs_key
RQ_QUEUES_KEY = f"{RQ_PREFIX}:queues"


def rq_job_key(job_id: str) -> str:
    return f"{RQ_PREFIX}:job:{job_id}"


def rq_queue_key(queue_name: str) -> str:
    return f"{RQ_PREFIX}:queue:{queue_name}"


def rq_scheduled_registry_key(queue_name: str) -> str:
    """RQ's ``ScheduledJobRegistry`` of ``queue_name`` (the built-in scheduler's)."""
    return f"{RQ_PREFIX}:scheduled:{queue_name}"


def rq_worker_key(name: str) -> str:
    """A worker's registration hash; its heartbeat renews the TTL with EXPIRE."""
    return f"{RQ_PREFIX}:worker:{name}"


def rq_worker_executions_key(name: str) -> str:
    """The set of ``<job id>:<execution id>`` a worker is running (RQ >= 2)."""
    return f"{RQ_PREFIX}:worker:{name}:executions"


def rq_execution_key(composite: str) -> str:
    """One run of a job, ``<job id>:<execution id>``; its TTL is renewed by the heartbeat."""
    return f"{RQ_PREFIX}:execution:{composite}"


def rq_job_executions_key(job_id: str) -> str:
    """A job's execution registry (members: execution ids)."""
    return f"{RQ_PREFIX}:executions:{job_id}"


class DelayedJob(NamedTuple):
    """``func(*args)`` to run at ``at`` as RQ job ``job_id``."""

    job_id: str
    at: datetime
    func: str
    args: tuple[Any, ...]


class DelayedQueue(Protocol):
    """Where delayed jobs go; ids are caller-chosen and idempotent."""

    def schedule(self, job_id: str, at: datetime, func: str, args: tuple[Any, ...]) -> bool:
        """Schedule ``func(*args)`` at ``at`` unless ``job_id`` is already scheduled."""
        ...

    def schedule_many(self, jobs: Sequence[DelayedJob]) -> int:
        """``schedule`` for each job, in one round trip; how many were new."""
        ...

    def cancel(self, job_ids: Iterable[str]) -> int:
        """Remove scheduled jobs that have not started; how many were removed."""
        ...

    def scheduled_at(self, job_id: str) -> datetime | None:
        """When ``job_id`` is due, or None if it is not scheduled."""
        ...

    def scheduled_many(self, job_ids: Sequence[str]) -> list[datetime | None]:
        """``scheduled_at`` for each id, in one round trip."""
        ...


# rq-scheduler: a job is scheduled iff its id is in the sorted set. Checking and writing in
# one script makes scheduling a job id twice a no-op even when two planners race; a whole
# batch is one call (atomic), its jobs' shared hash fields sent once.
# KEYS[1] the scheduled set, KEYS[1 + j] job j's hash. ARGV: c, then c field/value pairs
# every job's hash has; v, then v field names; then per job j: its id, its UNIX time and
# its v values. The fields are rq's Job.to_dict(), what Job.save writes.
_RQ_SCHEDULER_SCRIPT = """
local c = tonumber(ARGV[1])
local names = 2 + 2 * c
local v = tonumber(ARGV[names])
local p = names + v + 1
local added = 0
for j = 2, #KEYS do
    local id = ARGV[p]
    if not redis.call('ZSCORE', KEYS[1], id) then
        local fields = {}
        for i = 2, 1 + 2 * c do
            fields[#fields + 1] = ARGV[i]
        end
        for i = 1, v do
            fields[#fields + 1] = ARGV[names + i]
            fields[#fields + 1] = ARGV[p + 1 + i]
        end
        if #fields > 0 then
            redis.call('HSET', KEYS[j], unpack(fields))
        end
        redis.call('ZADD', KEYS[1], ARGV[p + 1], id)
        added = added + 1
    end
    p = p + 2 + v
end
return added
"""


def _shared_layout(hashes: list[dict[str, Any]]) -> tuple[list[Any], list[str]]:
    """The field/value pairs every hash shares, and the names of the fields that vary."""
    first = hashes[0]
    shared = [name for name, value in first.items() if all(h[name] == value for h in hashes[1:])]
    varying = [name for name in first if name not in set(shared)]
    return [x for name in shared for x in (name, first[name])], varying


def _job_hash(job: Job) -> dict[str, Any]:
    """``job.to_dict()`` without None values: exactly the fields ``Job.save`` writes."""
    return {name: value for name, value in job.to_dict().items() if value is not None}


def _hset_args(job: Job) -> list[Any]:
    """``_job_hash`` flattened for HSET."""
    return [x for item in _job_hash(job).items() for x in item]


def _unix(at: datetime) -> int:
    """Whole UNIX seconds, as both schedulers score their sets."""
    return calendar.timegm(whole_second(at).utctimetuple())


class _Reads:
    """Reads shared by both adapters: the schedule is a sorted set scored by UNIX time."""

    _connection: redis.Redis
    _scheduled_key: str

    def scheduled_at(self, job_id: str) -> datetime | None:
        return _when(self._connection.zscore(self._scheduled_key, job_id))

    def scheduled_many(self, job_ids: Sequence[str]) -> list[datetime | None]:
        if not job_ids:
            return []
        pipe = self._connection.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.zscore(self._scheduled_key, job_id)
        return [_when(score) for score in pipe.execute()]


def _when(score: float | None) -> datetime | None:
    return None if score is None else datetime.fromtimestamp(float(score), tz=UTC)


class RqSchedulerQueue(_Reads):
    """rq-scheduler: a separate ``rqscheduler`` process moves due jobs onto the queue."""

    def __init__(self, connection: redis.Redis, queue_name: str) -> None:
        self._connection = connection
        self._queue_name = queue_name
        self._scheduled_key = RQ_SCHEDULER_KEY
        self._script = connection.register_script(_RQ_SCHEDULER_SCRIPT)

    def _job(self, job: DelayedJob) -> Job:
        # What rq-scheduler's enqueue_at stores (Scheduler._create_job): status scheduled,
        # origin the queue; ``timeout`` and ``result_ttl`` as its keywords set them.
        from rq.job import Job, JobStatus  # noqa: PLC0415 - rq loads only to write jobs

        rq_job = Job.create(
            job.func,
            args=job.args,
            connection=self._connection,
            result_ttl=RESULT_TTL_S,
            id=job.job_id,
            timeout=JOB_TIMEOUT_S,
            status=JobStatus.SCHEDULED,
        )
        rq_job.origin = self._queue_name
        return rq_job

    def schedule(self, job_id: str, at: datetime, func: str, args: tuple[Any, ...]) -> bool:
        return self.schedule_many([DelayedJob(job_id, at, func, args)]) == 1

    def schedule_many(self, jobs: Sequence[DelayedJob]) -> int:
        if not jobs:
            return 0
        # One script call per set of hash fields (all jobs made here share one set).
        groups: dict[tuple[str, ...], list[tuple[DelayedJob, dict[str, Any]]]] = {}
        for job in jobs:
            fields = _job_hash(self._job(job))
            groups.setdefault(tuple(fields), []).append((job, fields))
        pipe = self._connection.pipeline(transaction=False)
        for group in groups.values():
            shared, varying = _shared_layout([fields for _, fields in group])
            args: list[Any] = [len(shared) // 2, *shared, len(varying), *varying]
            for job, fields in group:
                # rq-scheduler reads its scores as UTC UNIX seconds (its to_unix).
                args += [job.job_id, _unix(job.at), *(fields[name] for name in varying)]
            keys = [self._scheduled_key, *(rq_job_key(job.job_id) for job, _ in group)]
            self._script(keys=keys, args=args, client=pipe)
        return sum(int(added) for added in pipe.execute())

    def cancel(self, job_ids: Iterable[str]) -> int:
        removed = 0
        for job_id in job_ids:
            if self._connection.zrem(self._scheduled_key, job_id):
                self._connection.delete(rq_job_key(job_id))
                removed += 1
        return removed


class RqBuiltinQueue(_Reads):
    """RQ's own scheduler: run workers with ``rq worker --with-scheduler``."""

    def __init__(self, connection: redis.Redis, queue_name: str) -> None:
        self._connection = connection
        self._queue_name = queue_name
        self._scheduled_key = rq_scheduled_registry_key(queue_name)

    def schedule(self, job_id: str, at: datetime, func: str, args: tuple[Any, ...]) -> bool:
        return self.schedule_many([DelayedJob(job_id, at, func, args)]) == 1

    def schedule_many(self, jobs: Sequence[DelayedJob]) -> int:
        """RQ's own atomic unique schedule (``Queue.schedule_job(unique=True)``), pipelined.

        ``enqueue_at`` ignores ``unique=True``; RQ's script refuses an id whose job hash
        exists, then writes the hash, the registry entry and the queue in one step.
        """
        if not jobs:
            return 0
        from rq import Queue  # noqa: PLC0415 - rq loads only to write jobs
        from rq.job import JobStatus  # noqa: PLC0415
        from rq.scripts import UNIQUE_SCHEDULE_SCRIPT  # noqa: PLC0415

        queue = Queue(self._queue_name, connection=self._connection)
        script = self._connection.register_script(UNIQUE_SCHEDULE_SCRIPT)
        pipe = self._connection.pipeline(transaction=False)
        for job in jobs:
            rq_job = queue.create_job(
                job.func,
                args=job.args,
                job_id=job.job_id,
                timeout=JOB_TIMEOUT_S,
                result_ttl=RESULT_TTL_S,
            )
            rq_job._status = JobStatus.SCHEDULED  # as schedule_job(unique=True) sets it
            ttl = rq_job.ttl if rq_job.ttl is not None else -1
            script(
                keys=[rq_job.key, self._scheduled_key, RQ_QUEUES_KEY],
                args=[rq_job.id, ttl, _unix(job.at), queue.key, *_hset_args(rq_job)],
                client=pipe,
            )
        return sum(int(added) for added in pipe.execute())

    def cancel(self, job_ids: Iterable[str]) -> int:
        from rq.registry import ScheduledJobRegistry  # noqa: PLC0415

        registry = ScheduledJobRegistry(self._queue_name, connection=self._connection)  # type: ignore[no-untyped-call]
        removed = 0
        for job_id in job_ids:
            if job_id in registry:
                registry.remove(job_id, delete_job=True)
                removed += 1
        return removed


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
