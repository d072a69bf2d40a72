"""A test handler for real worker processes: counts every call in Redis, acts on a script.

Point a worker at it with ``HANDLER=python:tests.counting_handler:handle``. Each call

* increments the field ``<slot_id>`` of the hash :data:`CALLS` (a slot whose handler ran
  twice shows 2), and
* appends ``<slot_id> <instant>`` to the list :data:`INSTANTS`, the instant being the
  scheduler's clock (Redis ``TIME`` through the demo time map, if one is installed),

then does what the hash :data:`SCRIPT` says for that slot id (default: answer ``done``):

* an outcome name (``failed``, ``no_posts``...): answer it;
* ``sleep:<seconds>``: sleep, then answer ``done``;
* ``block``: wait on ``BLPOP`` of :func:`release_key` (up to :data:`BLOCK_S` seconds),
  so a test can SIGKILL the worker while the handler is inside the action.

The test process reads the same keys through the helpers below.
"""

from __future__ import annotations

import time
from datetime import datetime

import redis

from planner.server_clock import ServerClock
from worker.handlers import EngagementRequest

CALLS = "test:handler:calls"
INSTANTS = "test:handler:instants"
SCRIPT = "test:handler:script"
BLOCK_S = 120


def release_key(slot_id: str) -> str:
    """The list a ``block``-scripted call waits on."""
    return f"test:handler:release:{slot_id}"


def handle(*, profile_url: str, name: str, slot: EngagementRequest, **_: object) -> str:
    """Count the call, then answer (or sleep, or block) as the script says."""
    from worker.runtime import runtime  # the worker's own client and settings

    client = runtime().client
    client.hincrby(CALLS, slot.slot_id, 1)
    client.rpush(INSTANTS, f"{slot.slot_id} {ServerClock(client, slot.account)().isoformat()}")
    raw = client.hget(SCRIPT, slot.slot_id)
    action = raw.decode() if isinstance(raw, bytes) else (raw or "done")
    if action.startswith("sleep:"):
        time.sleep(float(action.removeprefix("sleep:")))
        return "done"
    if action == "block":
        client.blpop([release_key(slot.slot_id)], timeout=BLOCK_S)
        return "done"
    return action


# ---- read back by the tests ------------------------------------------------------------


def script(client: redis.Redis, slot_id: str, action: str) -> None:
    """Tell the handler what to do when ``slot_id`` comes."""
    client.hset(SCRIPT, slot_id, action)


def calls(client: redis.Redis) -> dict[str, int]:
    """Handler calls per slot id."""
    return {_text(k): int(v) for k, v in client.hgetall(CALLS).items()}


def instants(client: redis.Redis) -> list[tuple[str, datetime]]:
    """(slot id, instant) of every handler call, in call order."""
    out = []
    for raw in client.lrange(INSTANTS, 0, -1):
        slot_id, at = _text(raw).split(" ", 1)
        out.append((slot_id, datetime.fromisoformat(at)))
    return out


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
