"""``planner.lua.call`` on a real redis-server: what redis-py's ``Script`` would answer, and
recovery from an emptied script cache, a killed connection and a failed script."""

from __future__ import annotations

import pytest
import redis

from planner import lua

RELEASE = ["eng:{a}:guard:res:x", "eng:{a}:guard:hour"]  # guard_release: 0, none held


def connections(client: redis.Redis) -> int:
    return len([c for c in client.client_list() if c.get("cmd") != "client|list"])


def test_answers_as_the_script_does(redis_client: redis.Redis) -> None:
    def hold() -> None:
        redis_client.set(RELEASE[0], "1 eng:{a}:guard:day:x eng:{a}:guard:week:x")
        redis_client.zadd(RELEASE[1], {"x": 1})

    hold()
    script = lua.script(redis_client, "guard_release")
    assert [script(keys=RELEASE, args=["x"]) for _ in range(2)] == [1, 0]
    hold()
    assert [lua.call(redis_client, "guard_release", RELEASE, ["x"]) for _ in range(2)] == [1, 0]


def test_a_thread_that_keeps_calling_gets_its_own_connection(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.ping()
    base = connections(client)
    for _ in range(lua.BORROWED_CALLS):
        lua.call(client, "guard_release", RELEASE, ["x"])
    assert connections(client) == base  # borrowed from the pool
    lua.call(client, "guard_release", RELEASE, ["x"])
    assert connections(client) == base + 1
    for _ in range(10):
        lua.call(client, "guard_release", RELEASE, ["x"])
    assert connections(client) == base + 1
    client.close()


def test_an_emptied_script_cache_and_a_killed_connection_are_survived(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    for _ in range(lua.BORROWED_CALLS + 1):
        lua.call(client, "guard_release", RELEASE, ["x"])
    client.script_flush()
    assert lua.call(client, "guard_release", RELEASE, ["x"]) == 0
    other = redis.Redis.from_url(redis_url)
    other.client_kill_filter(_type="normal", skipme=True)
    assert lua.call(client, "guard_release", RELEASE, ["x"]) == 0
    assert lua.call(client, "guard_release", RELEASE, ["x"]) == 0
    other.close()
    client.close()


def test_an_error_reply_raises_and_leaves_the_connection_usable(
    redis_client: redis.Redis,
) -> None:
    redis_client.set("eng:{a}:breaker", "not a hash")
    names = ["slot:x", "ledger", "inflight", "breaker", "outbox"]
    for _ in range(lua.BORROWED_CALLS + 2):
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            lua.call(
                redis_client,
                "slot_end",
                [f"eng:{{a}}:{name}" for name in names],
                ["done", "t", "", "k", "{}", "x", "2026-02-10", 3, ""],
            )
        assert lua.call(redis_client, "guard_release", RELEASE, ["x"]) == 0


def test_values_encode_as_redis_py_encodes_them() -> None:
    assert lua._encode(7) == b"7"
    assert lua._encode(0.1) == b"0.1"
    assert lua._encode("é") == "é".encode()
    assert lua._encode(b"\x00") == b"\x00"
    with pytest.raises(TypeError):
        lua._encode(True)
