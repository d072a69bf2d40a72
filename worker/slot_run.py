"""The start of a run in one round trip: ``planner/lua/slot_run.lua`` from Python.

The script reads the server clock, checks the slot is due and on time, claims it and
reserves the action in the guard, or answers what kept it from doing so. Its inputs depend
only on the account, its settings and the slot's local date, which the slot id carries
(``slot_id_for``): they are built once per account and date and kept (:func:`_inputs`), so
a run sends them ready-made. The slot's own fields come back in the reply, as one JSON
string (one bulk reply costs the client far less to read than an array of fields).
"""

from __future__ import annotations

import json
import struct
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time

import redis

from config.settings import Settings
from planner import keys, lua
from planner.clock import from_us, to_us
from planner.guard import Decision, Guard, decision
from planner.ledger import LedgerEntry
from planner.store import codec
from planner.store.base import INFLIGHT_TTL_S, StoreUnavailable
from planner.store.redis_common import response_error
from planner.store.redis_slots import engaged_since_text
from planner.timing import day_window

MAX_EARLY_WAIT_S = 2.0
"""Real seconds a job may arrive before its instant and wait for it (RQ keeps whole
seconds); one further ahead is a stray copy of a re-timed slot's job."""


@dataclass(frozen=True, slots=True)
class Claimed:
    """The script claimed the slot. ``code`` 1: registered in flight, and ``guard`` says
    whether the action was reserved; 2: another run of the profile is in flight
    (``detail``), nothing reserved. ``now`` is the clock at the claim."""

    code: int
    detail: str
    guard: Decision | None
    now: datetime
    real_now: datetime
    speed: float
    read_at: float  # time.monotonic() when the reply arrived
    ledger_entry: LedgerEntry | None
    linkedin_url: str
    profile_key: str
    name: str
    scheduled_at: datetime
    forced: bool
    attempts: int

    def later(self) -> datetime:
        """The clock now: the claim's server instant plus the monotonic time since."""
        return self.now + timedelta(seconds=time.monotonic() - self.read_at) * self.speed


@dataclass(frozen=True, slots=True)
class Declined:
    """The script wrote nothing. ``kind``: ``L`` (leave it to the longer path), ``N`` (no
    such slot), ``S`` (not pending: ``detail`` is its status), ``W`` / ``X`` (due in
    ``wait_s`` real seconds: wait, or a stray early copy), ``B`` (slot_begin refused:
    ``code`` -3 paused, -4 engaged on the day before or the same day, at ``now``)."""

    kind: str
    detail: str = ""
    wait_s: float = 0.0
    code: int = 0
    now: datetime | None = None


@dataclass(frozen=True, slots=True)
class _Inputs:
    settings: Settings  # held, so their ids are not reused while cached
    guard: Guard
    keys: tuple[bytes, ...]  # KEYS[2..8] and KEYS[10] (1 and 9 are per slot)
    args: tuple[bytes, bytes, bytes, bytes]  # ARGV[2..5]


_CACHE: dict[tuple[str, date, int, int], _Inputs] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_MAX = 4096


def slot_day(slot_id: str) -> date | None:
    """The local date in a slot id made by ``slot_id_for`` (``<account>-YYYYMMDD-NNN``)."""
    parts = slot_id.rsplit("-", 2)
    if len(parts) != 3 or len(parts[1]) != 8 or not parts[1].isdigit():
        return None
    try:
        return date(int(parts[1][:4]), int(parts[1][4:6]), int(parts[1][6:]))
    except ValueError:
        return None


def i5_since(day: date, settings: Settings) -> datetime:
    """The first instant of the account's local day before ``day``, in UTC: a success in
    the ledger at or after it keeps a run on ``day`` from acting (I5)."""
    before = day - timedelta(days=1)
    return datetime.combine(before, clock_time(0), tzinfo=settings.tz).astimezone(UTC)


def _inputs(account: str, settings: Settings, guard: Guard, day: date) -> _Inputs:
    """What every run of ``account`` on local date ``day`` sends alike (built once)."""
    cache_key = (account, day, id(settings), id(guard))
    hit = _CACHE.get(cache_key)
    if hit is not None and hit.settings is settings and hit.guard is guard:
        return hit
    one = timedelta(days=1)
    start, end = day_window(day, settings)
    utc_day = start.astimezone(UTC).date()
    utc_days = f"{utc_day} {utc_day + one} {utc_day + 2 * one}"
    days = f"{day} {day - one} {day + one} {engaged_since_text(i5_since(day, settings))} {utc_days}"
    constants = struct.pack(
        "<6d",
        to_us(start),
        to_us(end),
        round(settings.LATE_TOLERANCE_MINUTES * 60e6),
        MAX_EARLY_WAIT_S * 1e6,
        INFLIGHT_TTL_S,
        to_us(datetime.combine(utc_day, clock_time(0), tzinfo=UTC)) // 1_000_000,
    )
    guard_keys, caps, ends = guard.day_inputs(day)
    account_keys = (
        keys.ledger(account),
        keys.inflight(account),
        keys.breaker(account),
        keys.clock(account),
    )
    made = _Inputs(
        settings=settings,
        guard=guard,
        keys=(*(k.encode() for k in account_keys), *guard_keys),
        args=(days.encode(), constants, caps, ends),
    )
    with _CACHE_LOCK:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[cache_key] = made
    return made


def start_run(
    client: redis.Redis, account: str, settings: Settings, guard: Guard, slot_id: str
) -> Claimed | Declined:
    """Run ``slot_run.lua`` for ``slot_id`` (``Declined("L")`` when its id has no date).

    Errors as the store's: StoreUnavailable, CorruptState naming the key (a script error).
    """
    day = slot_day(slot_id)
    if day is None:
        return Declined("L", "slot id without a date")
    made = _inputs(account, settings, guard, day)
    ledger, inflight, breaker, clock, hour, day_key, week_key, trimmed = made.keys
    slot_key = keys.slot(account, slot_id)
    keys_ = (
        slot_key,
        ledger,
        inflight,
        breaker,
        clock,
        hour,
        day_key,
        week_key,
        keys.guard_reservation(account, slot_id),
        trimmed,
    )
    try:
        raw = lua.call(client, "slot_run", keys_, (slot_id, *made.args))
    except redis.ResponseError as exc:
        raise response_error(slot_key, exc) from exc
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise StoreUnavailable(f"Redis unreachable while accessing {slot_key}: {exc}") from exc
    read_at = time.monotonic()
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    if text.startswith("{"):
        return _claimed(json.loads(text), read_at, account)
    kind, _, rest = text.partition(" ")
    if kind in ("W", "X"):
        return Declined(kind, wait_s=int(rest) / 1e6)
    if kind == "B":
        code, now_us, detail = rest.split(" ", 2)
        return Declined(kind, detail, code=int(code), now=from_us(int(now_us)))
    return Declined(kind, rest)


def _claimed(reply: dict[str, str], read_at: float, account: str) -> Claimed:
    now = from_us(int(reply["now"]))
    raw_entry = reply["ledger"]
    entry = None
    if raw_entry:
        profile = reply["key"]
        entry = codec.decode_ledger(keys.ledger(account), {profile: raw_entry})[profile]
    return Claimed(
        code=int(reply["c"]),
        detail=reply["detail"],
        guard=decision(reply["guard"], now) if reply["guard"] else None,
        now=now,
        real_now=from_us(int(reply["real"])),
        speed=float(reply["speed"]),
        read_at=read_at,
        ledger_entry=entry,
        linkedin_url=reply["url"],
        profile_key=reply["key"],
        name=reply["name"],
        scheduled_at=datetime.fromisoformat(reply["at"]),
        forced=reply["forced"] == "1",
        attempts=int(reply["attempts"]),
    )
