"""Guard throughput: reserve + release per second against a bare INCR + EXPIRE round trip.

Clients are processes (forked, one Redis connection each), as workers are: separate
processes, often on separate hosts, sharing one Redis. All of them act on one account, the
case the guard exists for (its Lua script serialises them on that account's keys). Each
client runs for a fixed time after a common start; throughput is the sum of completed
operations over that time. ``now`` is passed in, as ``execute_slot`` does, so the number is
the guard's own cost (two Lua calls and one HMGET), not that of asking Redis for TIME.

Baseline, same server, same clients: ``INCR`` + ``EXPIRE`` of one counter in one pipelined
round trip, the least a rate limiter can do per action.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier

import redis

from benchmarks.model import Entry
from config.settings import Settings
from planner.guard import Guard

TARGET_RATIO = 0.8
BIG = 10**9


def guard_settings() -> Settings:
    """No cap or gap in the way: every reservation is granted, so each one does full work."""
    return Settings(
        _env_file=None,
        HOURLY_LIMIT=BIG,
        DAILY_LIMIT=BIG,
        WEEKLY_LIMIT=BIG,
        TIMING_MIN_GAP_MINUTES=0.0,
    )


def _guard_client(
    url: str, client_id: int, seconds: float, start: Barrier, out: Queue[int]
) -> None:
    client = redis.Redis.from_url(url)
    guard = Guard(client, guard_settings(), "bench")
    now = datetime.now(UTC)
    step = timedelta(microseconds=1)
    guard.reserve(f"warm-{client_id}", now)  # loads the scripts
    guard.release(f"warm-{client_id}")
    start.wait()
    done, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        slot = f"c{client_id}-{done}"
        guard.reserve(slot, now + done * step)
        guard.release(slot)
        done += 1
    client.close()
    out.put(done)


def _incr_client(url: str, client_id: int, seconds: float, start: Barrier, out: Queue[int]) -> None:
    client = redis.Redis.from_url(url)
    client.ping()
    start.wait()
    done, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        pipe = client.pipeline(transaction=False)
        pipe.incr("bench:counter")
        pipe.expire("bench:counter", 3600)
        pipe.execute()
        done += 1
    client.close()
    out.put(done)


def _throughput(url: str, work: Callable[..., None], clients: int, seconds: float) -> float:
    """Operations per second of ``clients`` forked processes running ``work`` together."""
    ctx = mp.get_context("fork")
    start, out = ctx.Barrier(clients), ctx.Queue()
    procs = [ctx.Process(target=work, args=(url, i, seconds, start, out)) for i in range(clients)]
    for proc in procs:
        proc.start()
    counts: list[int] = [out.get(timeout=seconds + 60) for _ in procs]
    for proc in procs:
        proc.join()
    return float(sum(counts)) / seconds


def measure(url: str, levels: tuple[int, ...], seconds: float) -> list[Entry]:
    entries = []
    for clients in levels:
        bare = _throughput(url, _incr_client, clients, seconds)
        guarded = _throughput(url, _guard_client, clients, seconds)
        entries.append(
            Entry(
                name=f"guard_reserve_release_per_s_{clients}_clients",
                value=guarded,
                unit="ops/s",
                target=TARGET_RATIO,
                higher_is_better=True,
                on_ratio=True,
                baseline=bare,
                baseline_what="INCR + EXPIRE, one pipelined round trip",
                note=f"{clients} processes, {seconds:g} s each",
            )
        )
    return entries
