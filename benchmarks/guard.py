"""Guard throughput: guard calls per second against a bare INCR + EXPIRE round trip.

What is counted. Each guard client loops ``reserve(slot)`` then ``release(slot)`` (so the
counters stay flat and every reserve is granted and does its full work), and counts every
completed *guard call*: a reserve is one, a release is one. Each is one round trip to Redis
(one ``EVALSHA``), as the worker makes them: a reserve before the handler runs, a release
after it, never together. The baseline client counts completed *round trips* of ``INCR`` +
``EXPIRE`` of one counter, pipelined, the least a rate limiter can do to count one action.
The targeted entry, ``guard_calls_per_s_<n>_clients``, is guard calls per second; its ratio
is (guard calls/s) / (baseline round trips/s), target >= 0.8: the guard's price per call
(checking the rolling hour, day, week and gap, idempotently per slot, or undoing exactly one
reservation) against the cheapest counter update.

Why per call rather than per reserve + release pair: a counter that can also be undone needs
a second round trip too (``DECR``), so a pair is two round trips on both sides, and pairs/s
over round trips/s would compare two round trips with one. The pair rate is reported anyway,
as the informational entry ``guard_pairs_per_s_<n>_clients`` (= calls/s / 2, no target),
with the same baseline, so either reading can be checked.

Clients are processes (forked, one Redis connection each), as workers are: separate
processes, often on separate hosts, sharing one Redis. All of them act on one account, the
case the guard exists for (its Lua scripts serialise them on that account's keys). ``now`` is
passed in, as ``execute_slot`` does, so the number is the guard's own cost, not that of asking
Redis for TIME. Each level runs in rounds that alternate baseline and guard (b, g, g, b, ...),
each client running a fixed time after a common start; a rate is the sum of completed
operations over the summed time. Alternating keeps the two sides of a ratio under the same
background load on a shared machine.
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
ROUNDS = 4
"""Rounds per level, alternating baseline and guard; ``seconds`` is split among them."""


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
    """Count guard calls: reserve then release of a fresh slot, each call counted once."""
    client = redis.Redis.from_url(url)
    guard = Guard(client, guard_settings(), "bench")
    now = datetime.now(UTC)
    step = timedelta(microseconds=1)
    guard.reserve(f"warm-{client_id}", now)  # loads the scripts
    guard.release(f"warm-{client_id}")
    start.wait()
    pairs, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        slot = f"c{client_id}-{pairs}"
        guard.reserve(slot, now + pairs * step)
        guard.release(slot)
        pairs += 1
    client.close()
    out.put(2 * pairs)


def _incr_client(url: str, client_id: int, seconds: float, start: Barrier, out: Queue[int]) -> None:
    """Count round trips of INCR + EXPIRE, pipelined."""
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


def _count(url: str, work: Callable[..., None], clients: int, seconds: float) -> int:
    """Operations completed by ``clients`` forked processes running ``work`` together."""
    ctx = mp.get_context("fork")
    start, out = ctx.Barrier(clients), ctx.Queue()
    procs = [ctx.Process(target=work, args=(url, i, seconds, start, out)) for i in range(clients)]
    for proc in procs:
        proc.start()
    counts: list[int] = [out.get(timeout=seconds + 60) for _ in procs]
    for proc in procs:
        proc.join()
    return sum(counts)


def measure(url: str, levels: tuple[int, ...], seconds: float) -> list[Entry]:
    entries = []
    part = seconds / ROUNDS
    for clients in levels:
        bare_ops = guard_calls = 0
        for round_ in range(ROUNDS):
            order = (
                (_incr_client, _guard_client) if round_ % 2 == 0 else (_guard_client, _incr_client)
            )
            for work in order:
                if work is _incr_client:
                    bare_ops += _count(url, work, clients, part)
                else:
                    guard_calls += _count(url, work, clients, part)
        bare, calls = bare_ops / seconds, guard_calls / seconds
        note = f"{clients} processes, {ROUNDS} alternating rounds, {seconds:g} s per side"
        entries.append(
            Entry(
                name=f"guard_calls_per_s_{clients}_clients",
                value=calls,
                unit="ops/s",
                target=TARGET_RATIO,
                higher_is_better=True,
                on_ratio=True,
                baseline=bare,
                baseline_what="INCR + EXPIRE round trips, pipelined",
                note=f"ops = guard calls: a reserve or a release; {note}",
            )
        )
        entries.append(
            Entry(
                name=f"guard_pairs_per_s_{clients}_clients",
                value=calls / 2,
                unit="ops/s",
                baseline=bare,
                baseline_what="INCR + EXPIRE round trips, pipelined",
                note=f"informational, ops = reserve + release pairs (2 round trips); {note}",
            )
        )
    return entries
