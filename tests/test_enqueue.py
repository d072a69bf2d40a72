"""The delayed-job adapters: RQ's key names, the stored format, batch idempotence.

``schedule_many`` writes jobs with its own pipelined script calls instead of the libraries'
one-job calls; these tests hold it to exactly what rq-scheduler's ``enqueue_at`` and RQ's
``Queue.schedule_job(unique=True)`` store. That real workers run those jobs is shown in
tests/test_processes.py.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import redis
from rq import Queue
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from rq_scheduler import Scheduler

from planner.enqueue import (
    JOB_TIMEOUT_S,
    RESULT_TTL_S,
    RQ_QUEUES_KEY,
    RQ_SCHEDULER_KEY,
    RUN_SLOT,
    DelayedJob,
    RqBuiltinQueue,
    RqSchedulerQueue,
    delayed_queue,
    rq_job_key,
    rq_queue_key,
    rq_scheduled_registry_key,
)

QUEUE = "engagements"
AT = datetime(2030, 2, 11, 9, 30, 15, 500_000, tzinfo=UTC)
BACKENDS = ["rq-scheduler", "rq"]


def jobs(n: int, prefix: str = "acct-20300211") -> list[DelayedJob]:
    return [
        DelayedJob(f"{prefix}-{i:03d}", AT + timedelta(minutes=i), RUN_SLOT, ("acct", f"s{i}"))
        for i in range(n)
    ]


def test_key_names_are_the_libraries(redis_client: redis.Redis) -> None:
    """Reads use these names without importing rq; they must stay the libraries' own."""
    queue = Queue(QUEUE, connection=redis_client)
    assert Scheduler.scheduled_jobs_key == RQ_SCHEDULER_KEY
    assert rq_scheduled_registry_key(QUEUE) == ScheduledJobRegistry(queue=queue).key  # type: ignore[no-untyped-call]
    assert rq_queue_key(QUEUE) == queue.key
    assert Queue.redis_queues_keys == RQ_QUEUES_KEY
    assert rq_job_key("x") == Job.key_for("x")


def _fields(client: redis.Redis, job_id: str) -> dict[bytes, bytes]:
    raw = client.hgetall(rq_job_key(job_id))
    raw.pop(b"created_at")  # the only field that differs between two writes
    return raw


def test_rq_scheduler_batch_stores_what_enqueue_at_stores(redis_client: redis.Redis) -> None:
    """Each job of a batch (shared fields sent once) is stored as enqueue_at stores it."""
    batch = jobs(3)
    assert RqSchedulerQueue(redis_client, QUEUE).schedule_many(batch) == 3
    ours = {j.job_id: _fields(redis_client, j.job_id) for j in batch}
    our_scores = redis_client.zrange(RQ_SCHEDULER_KEY, 0, -1, withscores=True)
    redis_client.flushall()
    scheduler = Scheduler(queue_name=QUEUE, connection=redis_client)
    for j in batch:
        scheduler.enqueue_at(
            j.at.replace(tzinfo=None, microsecond=0),
            j.func,
            *j.args,
            job_id=j.job_id,
            timeout=JOB_TIMEOUT_S,
            job_result_ttl=RESULT_TTL_S,
        )
    assert ours == {j.job_id: _fields(redis_client, j.job_id) for j in batch}
    assert our_scores == redis_client.zrange(RQ_SCHEDULER_KEY, 0, -1, withscores=True)
    assert [s for _, s in our_scores] == [int(j.at.timestamp()) for j in batch]  # UTC seconds


def test_rq_builtin_batch_stores_what_schedule_job_stores(redis_client: redis.Redis) -> None:
    (mine,) = jobs(1)
    assert RqBuiltinQueue(redis_client, QUEUE).schedule_many([mine]) == 1
    ours = _fields(redis_client, mine.job_id)
    key = rq_scheduled_registry_key(QUEUE)
    state = (redis_client.zscore(key, mine.job_id), redis_client.smembers(RQ_QUEUES_KEY))
    redis_client.flushall()
    queue = Queue(QUEUE, connection=redis_client)
    job = queue.create_job(
        mine.func,
        args=mine.args,
        job_id=mine.job_id,
        timeout=JOB_TIMEOUT_S,
        result_ttl=RESULT_TTL_S,
    )
    queue.schedule_job(job, mine.at.replace(microsecond=0), unique=True)
    assert ours == _fields(redis_client, mine.job_id)
    assert state == (redis_client.zscore(key, mine.job_id), redis_client.smembers(RQ_QUEUES_KEY))


@pytest.mark.parametrize("backend", BACKENDS)
def test_schedule_many_is_idempotent(redis_client: redis.Redis, backend: str) -> None:
    queue = delayed_queue(redis_client, backend, QUEUE)
    week = jobs(80)
    assert queue.schedule_many(week[:30]) == 30
    assert queue.schedule_many(week) == 50  # only the missing ones
    assert queue.schedule_many(week) == 0
    assert queue.schedule(week[0].job_id, week[0].at, week[0].func, week[0].args) is False
    assert queue.schedule_many([]) == 0
    whens = queue.scheduled_many([j.job_id for j in week] + ["absent"])
    assert whens == [j.at.replace(microsecond=0) for j in week] + [None]
    assert queue.scheduled_at(week[5].job_id) == week[5].at.replace(microsecond=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_schedule_many_schedules_each_job_once(
    redis_url: str, redis_client: redis.Redis, backend: str
) -> None:
    """Four planners scheduling the same week at once: each job is added exactly once."""
    week = jobs(80)
    added: list[int] = []
    barrier = threading.Barrier(4)

    def plan() -> None:
        client = redis.Redis.from_url(redis_url)
        queue = delayed_queue(client, backend, QUEUE)
        barrier.wait()
        added.append(queue.schedule_many(week))
        client.close()

    threads = [threading.Thread(target=plan) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(added) == 80
    key = RQ_SCHEDULER_KEY if backend == "rq-scheduler" else rq_scheduled_registry_key(QUEUE)
    assert redis_client.zcard(key) == 80


@pytest.mark.parametrize("backend", BACKENDS)
def test_cancel_removes_scheduled_jobs(redis_client: redis.Redis, backend: str) -> None:
    queue = delayed_queue(redis_client, backend, QUEUE)
    week = jobs(3)
    queue.schedule_many(week)
    assert queue.cancel([week[0].job_id, "absent"]) == 1
    assert queue.scheduled_at(week[0].job_id) is None
    assert not redis_client.exists(rq_job_key(week[0].job_id))
    assert queue.scheduled_at(week[1].job_id) is not None
