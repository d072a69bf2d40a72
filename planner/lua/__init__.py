"""Lua scripts shipped as package data, registered once per Redis client.

Each ``.lua`` file here starts with its contract (KEYS, ARGV with units, return value). Every
key comes in through KEYS (the Python side builds names with :mod:`planner.keys`), so the
scripts stay valid on Redis Cluster: all keys of one call share the account's hash tag.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any
from weakref import WeakKeyDictionary

import redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError

_registered: WeakKeyDictionary[redis.Redis, dict[str, Script]] = WeakKeyDictionary()
_lock = threading.Lock()


INCLUDE = "--! include "
"""A line ``--! include <name>`` puts script ``<name>`` there as ``local function
<name>(KEYS, ARGV)``: the same text, its KEYS and ARGV now the caller's tables, its ``return``
the function's. One script can so run others in one atomic step (``slot_run``) while each
keeps its own file, contract and tests, and still runs alone."""


@cache
def source(name: str) -> str:
    """The text of ``planner/lua/<name>.lua``, with its includes expanded."""
    text = (resources.files("planner") / "lua" / f"{name}.lua").read_text(encoding="utf-8")
    lines = []
    for line in text.splitlines():
        if line.startswith(INCLUDE):
            included = line.removeprefix(INCLUDE).strip()
            lines.append(f"local function {included}(KEYS, ARGV)\n{source(included)}\nend")
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def script(client: redis.Redis, name: str) -> Script:
    """The registered script ``name`` for ``client`` (registered on first use only).

    redis-py's ``Script`` runs EVALSHA and reloads the source on NOSCRIPT, so a server
    restart (which empties the script cache) needs nothing from us.
    """
    with _lock:
        per_client = _registered.setdefault(client, {})
        found = per_client.get(name)
        if found is None:
            found = per_client[name] = client.register_script(source(name))
        return found


Value = str | bytes | int | float


def call(client: redis.Redis, name: str, keys: Sequence[str | bytes], args: Sequence[Value]) -> Any:
    """Run script ``name``: one EVALSHA, packed here and sent on one connection.

    redis-py's general command path (its retry wrapper, event hooks, per-argument encoding,
    and a pool that checks each connection it hands out with a system call) costs more than
    the round trip itself on a small machine, and a slot's run makes two of these calls;
    this one does only what a call needs. Error replies raise as they do in redis-py
    (ResponseError). When the server does not know the script (first use, or a restart
    emptied its cache), or the connection broke (a restarted server), the call is made once
    more through redis-py's ``Script``, which loads the script and reconnects with the
    client's retry policy.

    The connection: a thread that keeps calling gets one of its own, held outside the pool
    (no check per call). The first few calls of a process borrow one from the pool instead:
    an RQ work horse is a fresh fork that runs one job, and the pool already holds the
    connection RQ opened in it, where one of our own would cost a new handshake.
    """
    found = script(client, name)
    packed = _pack(found.sha, keys, args)
    pool = client.connection_pool
    conn = _own_connection(pool)
    borrowed = conn is None
    if borrowed:
        conn = pool.get_connection()
    try:
        conn.send_packed_command(packed, check_health=False)
        return conn.read_response()
    except NoScriptError:
        pass
    except redis.ResponseError:
        raise  # a whole reply: the connection is still in step
    except (redis.ConnectionError, redis.TimeoutError):
        _drop(pool, conn)
    except BaseException:
        _drop(pool, conn)  # a reply may be half read: never reuse this connection
        raise
    finally:
        if borrowed:
            pool.release(conn)
    return found(keys=keys, args=args, client=client)


BORROWED_CALLS = 3
"""Calls per process and thread made on a pooled connection before one of its own."""

_local = threading.local()


def _own_connection(pool: redis.ConnectionPool) -> Any:
    """This thread's own connection to ``pool``'s server, made as the pool makes its own
    (None for the first calls of a process: borrow one). It closes when the pool is
    collected; a fork starts over."""
    mine: WeakKeyDictionary[redis.ConnectionPool, list[Any]] | None = getattr(
        _local, "connections", None
    )
    if mine is None:
        mine = _local.connections = WeakKeyDictionary()
    pid = os.getpid()
    entry = mine.get(pool)
    if entry is None or entry[0] != pid:
        entry = mine[pool] = [pid, 0, None]  # pid, calls, connection
    if entry[2] is None:
        entry[1] += 1
        if entry[1] <= BORROWED_CALLS:
            return None
        entry[2] = pool.connection_class(**pool.connection_kwargs)
    return entry[2]


def _drop(pool: redis.ConnectionPool, conn: Any) -> None:
    conn.disconnect()
    mine = getattr(_local, "connections", None)
    entry = mine.get(pool) if mine is not None else None
    if entry is not None and entry[2] is conn:
        entry[2] = None


def _pack(sha: str, keys: Sequence[str | bytes], args: Sequence[Value]) -> list[bytes]:
    """The RESP request ``EVALSHA sha numkeys *keys *args``, each value as redis-py
    encodes it (str as UTF-8, numbers in decimal; a float as its repr)."""
    values = [_encode(v) for v in (*keys, *args)]
    head = b"*%d\r\n$7\r\nEVALSHA\r\n$40\r\n%s\r\n" % (len(values) + 3, sha.encode())
    count = b"%d" % len(keys)
    parts = [head, b"$%d\r\n%s\r\n" % (len(count), count)]
    parts += [b"$%d\r\n%s\r\n" % (len(v), v) for v in values]
    return [b"".join(parts)]


def _encode(value: Value) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bool):
        raise TypeError(f"a bool is not a Redis value: {value!r}")
    if isinstance(value, int):
        return b"%d" % value
    if isinstance(value, float):
        return repr(value).encode()
    raise TypeError(f"not a Redis value: {value!r}")
