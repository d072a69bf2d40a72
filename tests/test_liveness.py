"""Job liveness from Redis server state only (``planner.live.jobs_alive``).

Each case writes the state RQ leaves in Redis (job hash, worker registration, execution
index and hashes) by hand, so every branch is exercised, including those of other RQ
versions. A real worker whose host clock is 10 minutes slow is in tests/test_processes.py.
"""

from __future__ import annotations

import time

import pytest
import redis
from rq import Queue, Worker
from rq.executions import Execution, ExecutionRegistry
from rq.registry import StartedJobRegistry

from config.settings import Settings
from planner.enqueue import (
    rq_execution_key,
    rq_job_executions_key,
    rq_job_key,
    rq_worker_executions_key,
    rq_worker_key,
)
from planner.live import Live, job_alive, jobs_alive

ACCOUNT = "acct"
JOB = "acct-20260209-000"
W = "host-a.1234"


@pytest.fixture
def live(redis_client: redis.Redis, settings: Settings) -> Live:
    return Live.connect(redis_client, settings, ACCOUNT)


def started(client: redis.Redis, job_id: str = JOB, worker: str | None = W) -> None:
    fields = {"status": "started"}
    if worker is not None:
        fields["worker_name"] = worker
    client.hset(rq_job_key(job_id), mapping=fields)


def register(client: redis.Redis, worker: str = W, ttl: int = 90, **fields: str) -> None:
    client.hset(rq_worker_key(worker), mapping={"state": "busy", **fields})
    client.expire(rq_worker_key(worker), ttl)


def execution(client: redis.Redis, job_id: str = JOB, worker: str = W, eid: str = "e1") -> None:
    client.sadd(rq_worker_executions_key(worker), f"{job_id}:{eid}")
    client.hset(rq_execution_key(f"{job_id}:{eid}"), mapping={"worker_name": worker})
    client.expire(rq_execution_key(f"{job_id}:{eid}"), 90)


def test_key_names_are_rqs(redis_client: redis.Redis) -> None:
    worker = Worker([Queue("q", connection=redis_client)], name=W, connection=redis_client)
    run = Execution("e1", JOB, connection=redis_client, worker_name=W)
    assert rq_worker_key(W) == worker.key
    assert rq_worker_executions_key(W) == worker.executions_key == run.worker_executions_key
    assert rq_execution_key(f"{JOB}:e1") == run.key
    assert rq_job_executions_key(JOB) == ExecutionRegistry(JOB, connection=redis_client).key


def test_scheduled_queued_and_finished(live: Live) -> None:
    c = live.client
    assert job_alive(live, "nothing") is False
    c.hset(rq_job_key("q"), "status", "queued")
    c.hset(rq_job_key("d"), "status", "deferred")
    c.hset(rq_job_key("f"), "status", "finished")
    c.hset(rq_job_key("x"), "status", "failed")
    assert jobs_alive(live, ["q", "d", "f", "x"]) == [True, True, False, False]
    c.zadd("rq:scheduler:scheduled_jobs", {"s": 2_000_000_000})
    assert job_alive(live, "s") is True
    assert jobs_alive(live, []) == []


def test_running_on_a_registered_worker_is_alive_whatever_the_registry_score(
    live: Live,
) -> None:
    """A slow host stamps the started registry in the past: that score is never read."""
    c = live.client
    started(c)
    register(c)
    execution(c)
    past = time.time() - 600
    c.zadd(StartedJobRegistry(queue=Queue("engagements", connection=c)).key, {f"{JOB}:e1": past})
    assert job_alive(live, JOB) is True


def test_worker_registration_gone_means_dead_whatever_the_registry_score(live: Live) -> None:
    """A fast host's score lies in the future; the expired registration decides."""
    c = live.client
    started(c)
    execution(c)
    future = time.time() + 3600
    c.zadd(StartedJobRegistry(queue=Queue("engagements", connection=c)).key, {f"{JOB}:e1": future})
    assert job_alive(live, JOB) is False


def test_registered_worker_running_something_else(live: Live) -> None:
    c = live.client
    started(c)
    register(c)
    execution(c, job_id="other-job")
    assert job_alive(live, JOB) is False


def test_execution_hash_expired(live: Live) -> None:
    c = live.client
    started(c)
    register(c)
    execution(c)
    c.delete(rq_execution_key(f"{JOB}:e1"))
    assert job_alive(live, JOB) is False


def test_worker_without_execution_index(live: Live) -> None:
    """Older RQ: the worker hash's ``current_job``; with neither, the registration alone."""
    c = live.client
    started(c, "a", worker="wa")
    register(c, "wa", current_job="a")
    started(c, "b", worker="wb")
    register(c, "wb", current_job="another")
    started(c, "c", worker="wc")
    register(c, "wc")
    assert jobs_alive(live, ["a", "b", "c"]) == [True, False, True]


def test_job_without_worker_name_uses_its_executions(live: Live) -> None:
    c = live.client
    started(c, "a", worker=None)
    c.zadd(rq_job_executions_key("a"), {"e1": 1})  # the score (a host's clock) is ignored
    c.hset(rq_execution_key("a:e1"), "worker_name", "")
    c.expire(rq_execution_key("a:e1"), 90)
    started(c, "b", worker=None)
    c.zadd(rq_job_executions_key("b"), {"e1": 2_000_000_000})  # expired execution hash
    started(c, "c", worker=None)  # no execution at all
    assert jobs_alive(live, ["a", "b", "c"]) == [True, False, False]


def test_many_jobs_mixed_in_one_call(live: Live) -> None:
    c = live.client
    started(c, "run1", worker="w1")
    register(c, "w1")
    execution(c, "run1", "w1")
    started(c, "run2", worker="w2")  # w2 not registered: dead
    execution(c, "run2", "w2")
    c.hset(rq_job_key("q"), "status", "queued")
    assert jobs_alive(live, ["run1", "run2", "q", "none"]) == [True, False, True, False]
