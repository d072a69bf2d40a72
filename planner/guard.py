"""The run-time guard: hourly / daily / weekly caps and the minimum gap (invariants I1, I2).

One Lua script (``lua/guard_reserve.lua``) checks every window and the gap together and
either refuses, changing nothing, or records the action everywhere at once, under a
reservation keyed by the slot id (reserving twice for one slot counts once). Workers on any
number of hosts share one Redis, so the caps hold whatever the number of workers. Releasing
is one script too (``lua/guard_release.lua``): it reads which day and week counters the
reservation counted in and undoes exactly that, atomically.

Time: ``reserve(slot_id, now)`` uses the caller's ``now``; without one, the guard asks the
Redis server (``TIME``), so every worker host reads one clock. ``now`` goes into the script as
an argument (epoch microseconds) rather than being read inside it because the day and week
keys depend on it and are computed here, with zoneinfo, in the account's time zone: a local
day is 23 or 25 hours long on DST days, a week likewise. Two workers may fetch TIME a moment
apart and arrive in the other order; the script's sliding-window check is exact whatever the
order of arrival.

Cost per call: one round trip (``EVALSHA``, sent by :func:`planner.lua.call`) for ``reserve``
with an explicit ``now`` and for ``release``. The calendar work (zoneinfo) is done once per
account and local day and cached (:class:`_Day`: the day's bounds in epoch microseconds and
its counter keys), so a reserve does integer comparisons to find its day; the script derives
the waits and counter TTLs from the day's bounds. The caps, gap and horizon go to the script
as one pre-built argument. Inside, the scripts make as few ``redis.call``s as they can (each
has a fixed cost on the server, and each write is an AOF append) and read instants only when
the hourly cap could block: a granted reserve usually eight calls, a release five; the
reservation is one string read together with the counters, and the newest action is the hour
zset's last entry rather than a key of its own (see the scripts' headers).
"""

from __future__ import annotations

import math
import struct
import threading
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis

from config.settings import Settings
from planner import keys, lua
from planner.clock import ensure_aware_utc, from_us, to_us
from planner.store.base import CorruptState, StoreError, StoreUnavailable
from planner.store.redis_common import response_error, translate
from planner.weekly_plan import iso_week_label, week_monday

WINDOW_S = 3600
"""The rolling window of HOURLY_LIMIT."""

HORIZON_S = 8 * 86_400
"""The hour zset keeps this much history behind its newest action: a worker whose clock is
up to ~8 days behind is still checked exactly; one further behind is refused as 'stale'."""

COUNTER_GRACE_S = 3600
"""Day and week counters outlive their period by this much, so that releasing a
reservation made just before local midnight still finds the counter it incremented."""

_US_PER_S = 1_000_000


def _local_date(epoch_us: int, tz: ZoneInfo) -> date:
    return from_us(epoch_us).astimezone(tz).date()


def day_start_us(day: date, tz: ZoneInfo) -> int:
    """The first instant (epoch us) whose local date in ``tz`` is ``day`` or later.

    Usually local midnight. When the zone's clocks jump over midnight (the wall time 00:00
    never happens, or a whole date is skipped, as Samoa did on 2011-12-30) it is the instant
    of the jump, found by bisection: local dates only ever move forward.
    """
    midnight = datetime.combine(day, time(0), tzinfo=tz)
    guess = to_us(midnight)
    if _local_date(guess, tz) >= day and _local_date(guess - 1, tz) < day:
        return guess
    lo, hi = guess - 2 * 86_400 * _US_PER_S, guess + 2 * 86_400 * _US_PER_S
    while hi - lo > 1:  # invariant: date(lo) < day <= date(hi)
        mid = (lo + hi) // 2
        if _local_date(mid, tz) >= day:
            hi = mid
        else:
            lo = mid
    return hi


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
    days: the end of a day is the first instant of the next local date (:func:`day_start_us`).
    """
    local_day = ensure_aware_utc(now).astimezone(tz).date()
    monday = week_monday(local_day)
    return Windows(
        local_day=local_day,
        iso_week=iso_week_label(monday),
        day_end=from_us(day_start_us(local_day + timedelta(days=1), tz)),
        week_end=from_us(day_start_us(monday + timedelta(days=7), tz)),
    )


@dataclass(frozen=True, slots=True)
class _Day:
    """One local day of one account: its bounds (epoch us) and the counter keys of its day
    and ISO week. An instant ``t`` is on this day exactly when ``start_us <= t < end_us``."""

    start_us: int
    end_us: int
    week_end_us: int
    local_day: date
    iso_week: str
    day_key: str
    week_key: str
    script_args: tuple[bytes, bytes, bytes]
    """What the reserve script gets of this day, ready to send: the two counter keys and
    ``end_us``, ``week_end_us`` packed as two doubles."""


def _make_day(account: str, tz: ZoneInfo, now_us: int) -> _Day:
    win = windows(from_us(now_us), tz)
    end_us, week_end_us = to_us(win.day_end), to_us(win.week_end)
    day_key = keys.guard_day(account, win.local_day)
    week_key = keys.guard_week(account, win.iso_week)
    return _Day(
        start_us=day_start_us(win.local_day, tz),
        end_us=end_us,
        week_end_us=week_end_us,
        local_day=win.local_day,
        iso_week=win.iso_week,
        day_key=day_key,
        week_key=week_key,
        script_args=(day_key.encode(), week_key.encode(), struct.pack("<2d", end_us, week_end_us)),
    )


class _Days:
    """The few local days one account's guards met last (newest first), shared by every
    Guard of that account and zone in this process: workers build a Guard per job."""

    __slots__ = ("recent",)
    KEEP = 8  # instants from several days may interleave (late workers, tests, imports)

    def __init__(self) -> None:
        self.recent: tuple[_Day, ...] = ()  # replaced whole, never mutated: thread-safe reads


_DAYS: dict[tuple[str, ZoneInfo], _Days] = {}
_DAYS_LOCK = threading.Lock()
_DAYS_MAX = 4096
"""Accounts whose days are cached; past this the cache starts over (it is only a cache)."""


def _days_of(account: str, tz: ZoneInfo) -> _Days:
    with _DAYS_LOCK:
        found = _DAYS.get((account, tz))
        if found is None:
            if len(_DAYS) >= _DAYS_MAX:
                _DAYS.clear()
            found = _DAYS[(account, tz)] = _Days()
        return found


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
        self._trimmed_key = keys.guard_trimmed(account)
        # Sent as bytes: redis-py passes bytes through, a str it checks and encodes each time.
        self._hour_b, self._trimmed_b = self._hour_key.encode(), self._trimmed_key.encode()
        self._days = _days_of(account, self.tz)
        gap_us = round(self.limits.min_gap_s * _US_PER_S)
        horizon_us = max(HORIZON_S * _US_PER_S, 2 * gap_us)
        constants = (
            self.limits.hourly,
            self.limits.daily,
            self.limits.weekly,
            gap_us,
            WINDOW_S * _US_PER_S,
            horizon_us,
            math.ceil(horizon_us / _US_PER_S) + 86_400,  # hour zset TTL (mark: + window), s
            COUNTER_GRACE_S,
        )
        if not all(0 <= c < 2**53 for c in constants):
            raise ValueError(f"guard limits out of range: {self.limits}")
        self._constants = struct.pack("<8d", *constants)  # exact: integers < 2^53

    def server_now(self) -> datetime:
        """The Redis server's clock: one clock for every worker host."""
        with translate(self._hour_key):
            seconds, micros = self._client.time()
        return from_us(seconds * 1_000_000 + micros)

    def _day(self, now_us: int) -> _Day:
        """The cached local day of ``now_us`` (zoneinfo only on the first call of a day)."""
        for day in self._days.recent:
            if day.start_us <= now_us < day.end_us:
                return day
        day = _make_day(self.account, self.tz, now_us)
        self._days.recent = (day, *self._days.recent[: _Days.KEEP - 1])
        return day

    def day_inputs(self, day: date) -> tuple[tuple[bytes, bytes, bytes, bytes], bytes, bytes]:
        """What :meth:`reserve` sends for any action on local date ``day``, for a script
        that reserves as one of its steps (``slot_run.lua``): KEYS 1, 2, 3 and 5 of
        ``guard_reserve`` (hour zset, day and week counters, trim mark; KEYS[4] is the
        slot's reservation), the packed caps and the day's packed ends."""
        day_key, week_key, ends = self._day(day_start_us(day, self.tz)).script_args
        return (self._hour_b, day_key, week_key, self._trimmed_b), self._constants, ends

    def reserve(self, slot_id: str, now: datetime | None = None) -> Decision:
        """Count one action of ``slot_id`` at ``now`` in every window, or refuse."""
        at = ensure_aware_utc(now) if now is not None else self.server_now()
        now_us = to_us(at)
        day_key, week_key, ends = self._day(now_us).script_args
        res_key = keys.guard_reservation(self.account, slot_id)
        try:
            raw = lua.call(
                self._client,
                "guard_reserve",
                (self._hour_b, day_key, week_key, res_key, self._trimmed_b),
                (now_us, slot_id, self._constants, ends),
            )
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError) as exc:
            raise _store_error(res_key, exc) from exc
        return decision(raw, at)

    def release(self, slot_id: str) -> bool:
        """Undo the reservation of ``slot_id``; False if it holds none. One round trip."""
        res_key = keys.guard_reservation(self.account, slot_id)
        try:
            done = lua.call(self._client, "guard_release", (res_key, self._hour_b), (slot_id,))
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError) as exc:
            raise _store_error(res_key, exc) from exc
        return bool(done == 1)

    def usage(self, now: datetime | None = None) -> dict[str, Any]:
        """Used and allowed actions per window at ``now`` (for ``status``).

        ``last_action_at`` is the newest recorded action (whatever ``now`` is): the newest
        entry of the hour zset, the one the gap check reads. None when the zset holds none:
        no action recorded yet, every one released, or none within the retained history
        (the zset expires about nine days after its newest action).
        """
        at = ensure_aware_utc(now) if now is not None else self.server_now()
        now_us = to_us(at)
        cal = self._day(now_us)
        day_key, week_key = cal.day_key, cal.week_key
        with translate(self._hour_key):
            pipe = self._client.pipeline(transaction=True)
            pipe.zcount(self._hour_key, f"({now_us - WINDOW_S * 1_000_000}", now_us)
            pipe.get(day_key)
            pipe.get(week_key)
            pipe.zrevrange(self._hour_key, 0, 0, withscores=True)
            hour, day, week, newest = pipe.execute()
        return {
            "at": at,
            "hourly": {"used": int(hour), "limit": self.limits.hourly},
            "daily": {"used": _number(day, day_key), "limit": self.limits.daily},
            "weekly": {"used": _number(week, week_key), "limit": self.limits.weekly},
            "min_gap_s": self.limits.min_gap_s,
            "last_action_at": from_us(int(newest[0][1])) if newest else None,
            "local_day": cal.local_day,
            "iso_week": cal.iso_week,
        }


def decision(raw: bytes | str, at: datetime) -> Decision:
    """The :class:`Decision` in a reply of ``guard_reserve.lua`` for an action at ``at``."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    outcome, blocked_by, wait_us, hour, day_n, week_n = text.split(" ")
    counts = {"hour": int(hour), "day": int(day_n), "week": int(week_n)}
    if outcome == "allowed":
        return Decision(True, None, 0.0, counts, at)
    return Decision(
        allowed=outcome != "blocked",
        blocked_by=None if blocked_by == "-" else blocked_by,
        retry_after_s=int(wait_us) / 1e6,
        counts=counts,
        at=at,
        already_reserved=outcome == "already",
    )


def _store_error(key: str, exc: redis.RedisError) -> StoreError:
    """What :func:`planner.store.redis_common.translate` raises for ``exc`` (connection,
    time-out or error reply), without a context manager on the hot path."""
    if isinstance(exc, redis.ResponseError):
        return response_error(key, exc)
    return StoreUnavailable(f"Redis unreachable while accessing {key}: {exc}")


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
