"""Circuit breaker: BREAKER_THRESHOLD failed outcomes in a row pause an account for the day.

A run of failures usually means the handler's side is broken (expired session, changed
page, webhook down); carrying on would burn the day's budget on certain failures.
``python -m planner resume`` lifts the pause; the next local day starts unpaused.
"""

from __future__ import annotations

from datetime import date

import redis

from planner import keys
from planner.store.redis_common import text
from planner.weekly_plan import Status


def paused_on(client: redis.Redis, account: str) -> date | None:
    raw = client.hget(keys.breaker(account), "paused_day")
    return date.fromisoformat(text(raw)) if raw else None


def is_paused(client: redis.Redis, account: str, today: date) -> bool:
    return paused_on(client, account) == today


def record(client: redis.Redis, account: str, outcome: Status, today: date, threshold: int) -> bool:
    """Count ``outcome``; True when this one trips the breaker."""
    key = keys.breaker(account)
    if outcome is not Status.FAILED:
        client.hset(key, "failures", 0)
        return False
    failures = int(client.hincrby(key, "failures", 1))
    if failures < threshold:
        return False
    pipe = client.pipeline(transaction=True)
    pipe.hset(key, mapping={"paused_day": today.isoformat(), "failures": 0})
    pipe.execute()
    return True


def resume(client: redis.Redis, account: str) -> bool:
    """Lift a pause; False if there was none."""
    return bool(client.hdel(keys.breaker(account), "paused_day"))


def failures(client: redis.Redis, account: str) -> int:
    raw = client.hget(keys.breaker(account), "failures")
    return int(raw) if raw else 0
