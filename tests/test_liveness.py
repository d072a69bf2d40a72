"""Job liveness from Redis server state only (``planner.live.jobs_alive``).

Each case writes the state RQ leaves in Redis (job hash, worker registration, execution
index and hashes) by hand, so every branch is exercised, including those of other RQ
versions. A real worker whose host clock is 10 minutes slow is in tests/test_processes.py.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import redis
from rq import Queue, Worker
from rq.executions import Execution, ExecutionRegistry
from rq.registry import StartedJobRegistry

from config.settings import Settings
from planner import keys
from planner.enqueue import (
    rq_execution_key,
    rq_job_executions_key,
    rq_job_key,
    rq_worker_executions_key,
    rq_worker_key,
)
from planner.live import Live, ensure_jobs, job_alive, jobs_alive, next_stranded_id
from planner.weekly_plan import WeeklyPlan
from tests.fault_harness import one_slot

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


# ---- jobs a dead worker took off the queue (RQ's intermediate list) ----------------------

QUEUE_KEY = "rq:queue:engagements"
INTERMEDIATE = f"{QUEUE_KEY}:intermediate"


def overdue_week(live: Live, late: timedelta) -> WeeklyPlan:
    """A stored week whose one pending slot fell due ``late`` ago (by Redis TIME)."""
    return one_slot(live, live.clock() - late)


def taken_by_a_worker(live: Live, job_id: str, *, into: str = INTERMEDIATE) -> None:
    """The job was enqueued (status queued) and a worker's BLMOVE took it into ``into``."""
    live.client.hset(rq_job_key(job_id), "status", "queued")
    live.client.rpush(into, job_id)


@pytest.mark.parametrize("backend", ["rq-scheduler", "rq"])
def test_a_job_stranded_in_the_intermediate_list_is_let_go_and_replaced(
    redis_client: redis.Redis, backend: str
) -> None:
    settings = Settings(_env_file=None, SCHEDULER_BACKEND=backend)  # type: ignore[call-arg]
    live = Live.connect(redis_client, settings, ACCOUNT)
    plan = overdue_week(live, timedelta(minutes=5))
    (slot,) = plan.slots()
    taken_by_a_worker(live, slot.slot_id)
    assert job_alive(live, slot.slot_id) is True  # "queued": liveness alone is fooled

    assert ensure_jobs(live, plan) == 1
    new_id = redis_client.hget(keys.slot_jobs(ACCOUNT), slot.slot_id)
    assert new_id == f"{slot.slot_id}-s1".encode()
    assert live.queue.scheduled_at(new_id.decode()) is not None
    assert redis_client.lrange(INTERMEDIATE, 0, -1) == []
    assert not redis_client.exists(rq_job_key(slot.slot_id))
    assert ensure_jobs(live, plan) == 0  # the new job is alive: nothing more


def test_a_job_just_taken_or_still_queued_is_left_alone(live: Live) -> None:
    recent = overdue_week(live, timedelta(seconds=20))
    (slot,) = recent.slots()
    taken_by_a_worker(live, slot.slot_id)
    assert ensure_jobs(live, recent) == 0  # within the grace: a live worker may hold it
    live.client.delete(INTERMEDIATE)

    late = overdue_week(live, timedelta(minutes=5))
    (slot,) = late.slots()
    taken_by_a_worker(live, slot.slot_id, into=QUEUE_KEY)  # waiting on the queue: alive
    assert ensure_jobs(live, late) == 0
    assert live.client.lrange(QUEUE_KEY, 0, -1) == [slot.slot_id.encode()]


def test_stranded_ids_count_up() -> None:
    assert next_stranded_id("a-20260209-000") == "a-20260209-000-s1"
    assert next_stranded_id("a-20260209-000-s1") == "a-20260209-000-s2"
    assert next_stranded_id("my-shop-20260209-000-r2") == "my-shop-20260209-000-r2-s1"
