"""The run-time guard: hourly / daily / weekly caps and the minimum gap (invariants I1, I2).

One Lua script (``lua/guard_reserve.lua``) checks every window and the gap together and
either refuses, changing nothing, or records the action everywhere at once, under a
reservation keyed by the slot id (reserving twice for one slot counts once). Workers on any
number of hosts share one Redis, so the caps hold whatever the number of workers.

Time: ``reserve(slot_id, now)`` uses the caller's ``now``; without one, the guard asks the
Redis server (``TIME``), so every worker host reads one clock. ``now`` goes into the script as
an argument (epoch microseconds) rather than being read inside it because the day and week
keys and their expiries depend on it and are computed here, with zoneinfo, in the account's
time zone: a local day is 23 or 25 hours long on DST days, a week likewise. Two workers may
fetch TIME a moment apart and arrive in the other order; the script's sliding-window check
is exact whatever the order of arrival.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis

from config.settings import Settings
from planner import keys, lua
from planner.clock import ensure_aware_utc
from planner.store.base import CorruptState
from planner.store.redis_common import translate
from planner.weekly_plan import iso_week_label, week_monday

WINDOW_S = 3600
"""The rolling window of HOURLY_LIMIT."""

HORIZON_S = 8 * 86_400
"""The hour zset keeps this much history behind its newest action: a worker whose clock is
up to ~8 days behind is still checked exactly; one further behind is refused as 'stale'."""

COUNTER_GRACE_S = 3600
"""Day and week counters outlive their period by this much, so that releasing a
reservation made just before local midnight still finds the counter it incremented."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_us(instant: datetime) -> int:
    """Epoch microseconds of an aware instant (exact integer arithmetic)."""
    return (ensure_aware_utc(instant) - _EPOCH) // _US


def from_us(epoch_us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=epoch_us)


@dataclass(frozen=True)
class Windows:
    """The local calendar windows an instant falls in, and when they end (UTC)."""

    local_day: date
    iso_week: str
    day_end: datetime
    week_end: datetime


def windows(now: datetime, tz: ZoneInfo) -> Windows:
    """Local date and ISO week of ``now`` in ``tz``; the next local midnight and Monday.

    Ends are computed on the local calendar and converted to UTC, so they are right on DST
    days. (Should a zone skip midnight itself, the end is the first instant of the day.)
    """
    local_day = ensure_aware_utc(now).astimezone(tz).date()
    monday = week_monday(local_day)
    day_end = datetime.combine(local_day + timedelta(days=1), time(0), tzinfo=tz)
    week_end = datetime.combine(monday + timedelta(days=7), time(0), tzinfo=tz)
    return Windows(
        local_day=local_day,
        iso_week=iso_week_label(monday),
        day_end=day_end.astimezone(UTC),
        week_end=week_end.astimezone(UTC),
    )


@dataclass(frozen=True)
class GuardLimits:
    """The caps and the gap the guard enforces."""

    hourly: int
    daily: int
    weekly: int
    min_gap_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> GuardLimits:
        return cls(
            hourly=settings.HOURLY_LIMIT,
            daily=settings.DAILY_LIMIT,
            weekly=settings.WEEKLY_LIMIT,
            min_gap_s=settings.TIMING_MIN_GAP_MINUTES * 60,
        )


@dataclass(frozen=True)
class Decision:
    """What ``reserve`` decided.

    ``blocked_by`` is the window with the longest wait when several block ("week", "day",
    "hour" or "gap"; "stale" with no wait when ``at`` is more than ``HORIZON_S`` behind the
    newest recorded action); ``retry_after_s`` is that wait. ``counts`` are the actions in the
    rolling hour up to ``at``, the local day and the ISO week (after recording, if allowed).
    ``already_reserved``: this slot already holds a reservation; nothing was counted again.
    """

    allowed: bool
    blocked_by: str | None
    retry_after_s: float
    counts: dict[str, int]
    at: datetime
    already_reserved: bool = False


class Guard:
    """The caps of one account, enforced in Redis."""

    def __init__(self, client: redis.Redis, settings: Settings, account: str) -> None:
        self._client = client
        self.account = account
        self.tz = settings.tz
        self.limits = GuardLimits.from_settings(settings)
        self._hour_key = keys.guard_hour(account)
        self._last_key = keys.guard_last(account)

    def server_now(self) -> datetime:
        """The Redis server's clock: one clock for every worker host."""
        with translate(self._hour_key):
            seconds, micros = self._client.time()
        return from_us(seconds * 1_000_000 + micros)

    def reserve(self, slot_id: str, now: datetime | None = None) -> Decision:
        """Count one action of ``slot_id`` at ``now`` in every window, or refuse."""
        at = ensure_aware_utc(now) if now is not None else self.server_now()
        now_us = to_us(at)
        win = windows(at, self.tz)
        to_midnight_us = to_us(win.day_end) - now_us
        to_monday_us = to_us(win.week_end) - now_us
        window_us = WINDOW_S * 1_000_000
        gap_us = round(self.limits.min_gap_s * 1_000_000)
        horizon_us = max(HORIZON_S * 1_000_000, 2 * gap_us)
        keys_ = [
            self._hour_key,
            keys.guard_day(self.account, win.local_day),
            keys.guard_week(self.account, win.iso_week),
            self._last_key,
            keys.guard_reservation(self.account, slot_id),
            keys.guard_trimmed(self.account),
        ]
        args: list[int | str] = [
            now_us,
            slot_id,
            self.limits.hourly,
            self.limits.daily,
            self.limits.weekly,
            gap_us,
            window_us,
            to_midnight_us,
            to_monday_us,
            math.ceil(to_midnight_us / 1e6) + COUNTER_GRACE_S,
            math.ceil(to_monday_us / 1e6) + COUNTER_GRACE_S,
            horizon_us,
            math.ceil(horizon_us / 1e6) + 86_400,
        ]
        with translate(keys_[4]):
            raw = lua.script(self._client, "guard_reserve")(keys=keys_, args=args)
        outcome, blocked_by, wait_us, hour, day, week = raw
        outcome = _text(outcome)
        return Decision(
            allowed=outcome != "blocked",
            blocked_by=_text(blocked_by) or None,
            retry_after_s=int(wait_us) / 1e6,
            counts={"hour": int(hour), "day": int(day), "week": int(week)},
            at=at,
            already_reserved=outcome == "already",
        )

    def release(self, slot_id: str) -> bool:
        """Undo the reservation of ``slot_id``; False if it holds none."""
        res_key = keys.guard_reservation(self.account, slot_id)
        for _ in range(3):  # re-read if the reservation changed between read and script
            with translate(res_key):
                day_key, week_key = self._client.hmget(res_key, ["day", "week"])
                if day_key is None or week_key is None:
                    return False
                keys_ = [res_key, self._hour_key, _text(day_key), _text(week_key), self._last_key]
                result = int(lua.script(self._client, "guard_release")(keys=keys_, args=[slot_id]))
            if result >= 0:
                return result == 1
        return False

    def usage(self, now: datetime | None = None) -> dict[str, Any]:
        """Used and allowed actions per window at ``now`` (for ``status``)."""
        at = ensure_aware_utc(now) if now is not None else self.server_now()
        now_us = to_us(at)
        win = windows(at, self.tz)
        day_key = keys.guard_day(self.account, win.local_day)
        week_key = keys.guard_week(self.account, win.iso_week)
        with translate(self._hour_key):
            pipe = self._client.pipeline(transaction=True)
            pipe.zcount(self._hour_key, f"({now_us - WINDOW_S * 1_000_000}", now_us)
            pipe.get(day_key)
            pipe.get(week_key)
            pipe.get(self._last_key)
            hour, day, week, last = pipe.execute()
        return {
            "at": at,
            "hourly": {"used": int(hour), "limit": self.limits.hourly},
            "daily": {"used": _number(day, day_key), "limit": self.limits.daily},
            "weekly": {"used": _number(week, week_key), "limit": self.limits.weekly},
            "min_gap_s": self.limits.min_gap_s,
            "last_action_at": from_us(_number(last, self._last_key)) if last else None,
            "local_day": win.local_day,
            "iso_week": win.iso_week,
        }


def _number(raw: bytes | str | None, key: str) -> int:
    """A counter or instant read from ``key`` (absent: 0); CorruptState if not a number."""
    if raw is None:
        return 0
    try:
        return int(_text(raw))
    except ValueError:
        raise CorruptState(key, f"not a number: {raw!r}") from None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
