"""Outcomes waiting to be written back into the profile source.

Workers push every outcome here (Redis keeps it whatever happens to the source); ``sync``
and the daily chain flush it in batches. A failed flush keeps the batch for the next one,
so a write-back problem never loses an outcome.
"""

from __future__ import annotations

import json
from datetime import datetime

import redis

from planner import keys
from planner.sources.base import OutcomeUpdate, ProfileSource

BATCH = 500


def push(client: redis.Redis, account: str, update: OutcomeUpdate) -> None:
    client.rpush(keys.outbox(account), encode(update))


def pending(client: redis.Redis, account: str) -> int:
    return int(client.llen(keys.outbox(account)))


def flush(client: redis.Redis, account: str, source: ProfileSource) -> int:
    """Write queued outcomes to ``source``; returns how many were written.

    Raises the source's WriteBackError when a batch fails; that batch stays queued.
    """
    key = keys.outbox(account)
    written = 0
    while True:
        raw = client.lrange(key, 0, BATCH - 1)
        if not raw:
            return written
        source.write_back([_decode(item) for item in raw])
        client.ltrim(key, len(raw), -1)  # only what was written; later pushes stay
        written += len(raw)


def encode(update: OutcomeUpdate) -> str:
    """One queued outcome as stored in the outbox list (a run pushes it with its outcome)."""
    return json.dumps(
        {
            "profile_key": update.profile_key,
            "engaged_at": update.engaged_at.isoformat() if update.engaged_at else None,
            "outcome": update.outcome,
            "at": update.at.isoformat(),
        }
    )


def _decode(raw: bytes | str) -> OutcomeUpdate:
    data = json.loads(raw)
    engaged = data["engaged_at"]
    return OutcomeUpdate(
        data["profile_key"],
        datetime.fromisoformat(engaged) if engaged else None,
        data["outcome"],
        datetime.fromisoformat(data["at"]),
    )
