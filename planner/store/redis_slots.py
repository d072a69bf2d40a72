"""Slot transitions on Redis: each one Lua script, so check and write are one atomic step.

The scripts live in ``planner/lua/slot_*.lua`` with their KEYS/ARGV contracts. Instants go
in as ISO strings (hash fields) and epoch seconds (zset scores), computed here from the
caller's aware datetimes: the store never reads a clock itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import redis

from planner import keys, lua
from planner.clock import to_us
from planner.ledger import LedgerEntry
from planner.store import codec
from planner.store.base import (
    INFLIGHT_TTL_S,
    BeginResult,
    Begun,
    CorruptState,
    EndResult,
    RunClaim,
    RunOutcome,
    SlotBinding,
    SlotNotFound,
    SlotStateError,
    WeekNotFound,
    check_finish_status,
    check_transition,
)
from planner.store.redis_common import translate
from planner.weekly_plan import TERMINAL, Status


class RedisSlotOps:
    """The slot-level half of :class:`planner.store.redis_store.RedisPlanStore`."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    @property
    def client(self) -> redis.Redis:
        return self._client

    def _run(self, name: str, key: str, keys_: list[str], args: list[Any]) -> Any:
        with translate(key):
            return lua.call(self._client, name, keys_, args)

    def claim_slot(self, account: str, slot_id: str, now: datetime) -> bool:
        slot_key = keys.slot(account, slot_id)
        result = int(self._run("slot_claim", slot_key, [slot_key], [codec.iso(now)]))
        if result == -1:
            raise SlotNotFound(slot_key)
        return result == 1

    def finish_slot(
        self,
        account: str,
        slot_id: str,
        status: Status,
        at: datetime,
        *,
        reason: str = "",
        ledger_key: str | None = None,
        ledger_entry: LedgerEntry | None = None,
    ) -> None:
        check_finish_status(status)
        if (ledger_key is None) != (ledger_entry is None):
            raise ValueError("finish_slot needs both ledger_key and ledger_entry, or neither")
        slot_key = keys.slot(account, slot_id)
        args = [
            status.value,
            codec.iso(at),
            reason,
            ledger_key or "",
            codec.encode_ledger(ledger_entry) if ledger_entry is not None else "",
        ]
        code, current = self._run("slot_finish", slot_key, [slot_key, keys.ledger(account)], args)
        if int(code) == -1:
            raise SlotNotFound(slot_key)
        if int(code) == 0:
            raise SlotStateError(slot_key, Status.CLAIMED, codec.text(current, slot_key))

    def begin_run(self, account: str, slot_id: str, claim: RunClaim) -> BeginResult:
        slot_key = keys.slot(account, slot_id)
        ledger_key = keys.ledger(account)
        keys_ = [slot_key, ledger_key, keys.inflight(account), keys.breaker(account)]
        code, detail, entry = self._run("slot_begin", slot_key, keys_, begin_args(slot_id, claim))
        result = Begun(int(code))
        raw = codec.text(entry, ledger_key)
        ledger_entry = codec.decode_ledger(ledger_key, {claim.profile_key: raw}) if raw else {}
        return BeginResult(
            result, codec.text(detail, slot_key), ledger_entry.get(claim.profile_key)
        )

    def end_run(self, account: str, slot_id: str, outcome: RunOutcome) -> EndResult:
        check_finish_status(outcome.status)
        slot_key = keys.slot(account, slot_id)
        keys_ = [
            slot_key,
            keys.ledger(account),
            keys.inflight(account),
            keys.breaker(account),
            keys.outbox(account),
        ]
        args = [
            outcome.status.value,
            codec.iso(outcome.at),
            outcome.reason,
            outcome.profile_key,
            codec.encode_ledger(outcome.ledger_entry),
            slot_id,
            outcome.today.isoformat(),
            outcome.breaker_threshold,
            outcome.outbox_item or "",
        ]
        code, status, tripped = self._run("slot_end", slot_key, keys_, args)
        return EndResult(int(code) == 1, codec.text(status, slot_key), int(tripped) == 1)

    def set_slot_status(
        self,
        account: str,
        slot_id: str,
        *,
        expected: Status,
        new: Status,
        at: datetime,
        reason: str = "",
    ) -> bool:
        check_transition(expected, new)
        slot_key = keys.slot(account, slot_id)
        args = [
            expected.value,
            new.value,
            codec.iso(at) if new in TERMINAL else "",
            reason,
            "1" if new is Status.PENDING else "0",
            slot_id if ends_run(expected, new) else "",
        ]
        keys_ = [slot_key, keys.inflight(account)]
        result = int(self._run("slot_set_status", slot_key, keys_, args))
        if result == -1:
            raise SlotNotFound(slot_key)
        return result == 1

    def reschedule_slot(
        self,
        account: str,
        slot_id: str,
        new_instant: datetime,
        scheduled_time: str | None = None,
        *,
        expected: Status = Status.PENDING,
    ) -> bool:
        """Move a slot still ``expected`` (pending, or claimed: a claim given back) to
        ``new_instant`` on its own local day; it is pending afterwards.

        ``scheduled_time`` (local HH:MM) is derived from ``new_instant`` when omitted and
        must agree with it when given. ValueError if the instant falls on another day.
        """
        slot_key = keys.slot(account, slot_id)
        with translate(slot_key):
            day_s, week_s = self._client.hmget(slot_key, ["date", "week_start"])
        if day_s is None or week_s is None:
            raise SlotNotFound(slot_key)
        day = _field_date(slot_key, "date", day_s)
        meta_key = keys.week_meta(account, _field_date(slot_key, "week_start", week_s))
        with translate(meta_key):
            tz_raw = self._client.hget(meta_key, "timezone")
        if tz_raw is None:
            raise CorruptState(slot_key, f"its week {meta_key} has no timezone")
        hhmm = codec.reschedule_time(
            slot_key,
            new_instant,
            scheduled_time,
            tz_name=codec.text(tz_raw, meta_key),
            day=day,
            expected=expected,
        )
        args = [
            expected.value,
            repr(new_instant.timestamp()),
            codec.iso(new_instant),
            hhmm,
            slot_id,
            day.isoformat(),
            to_us(new_instant),
        ]
        day_key = keys.day_slots(account, day)
        keys_ = [slot_key, day_key, keys.inflight(account)]
        result = int(self._run("slot_reschedule", slot_key, keys_, args))
        if result == -1:
            raise SlotNotFound(slot_key)
        if result == -2:
            raise CorruptState(slot_key, f"changed day while being moved to {day}")
        return result == 1

    def rebind_open_slots(
        self, account: str, week_start: date, assignments: Mapping[str, SlotBinding]
    ) -> list[str]:
        meta_key = keys.week_meta(account, week_start)
        slot_ids = list(assignments)
        args: list[str] = [week_start.isoformat()]
        for slot_id in slot_ids:
            args += codec.encode_binding(assignments[slot_id])
        slot_keys = [keys.slot(account, slot_id) for slot_id in slot_ids]
        result = self._run("slot_rebind", meta_key, [meta_key, *slot_keys], args)
        if int(result[0]) == -1:
            raise WeekNotFound(meta_key)
        return [slot_ids[int(position) - 1] for position in result[1:]]


def _field_date(key: str, field: str, value: bytes | str) -> date:
    text = codec.text(value, key)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CorruptState(key, f"field {field!r} is not a date: {text!r}") from None


def ends_run(expected: Status, new: Status) -> bool:
    """A claim closed before its handler ran: its in-flight entry ends with it.

    ``unknown`` does not end it: that run may have acted, so its profile's neighbouring
    days stay blocked (I5) until the profile's next claim overwrites the entry.
    """
    return expected is Status.CLAIMED and new is not Status.UNKNOWN


def engaged_since_text(instant: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` in UTC, the form slot_begin.lua compares as text."""
    codec.iso(instant)  # refuses a naive instant
    utc = instant.astimezone(UTC)
    if utc.microsecond:
        raise ValueError(f"engaged_since {instant.isoformat()} must be a whole second")
    return f"{utc:%Y-%m-%dT%H:%M:%S}"


def begin_args(slot_id: str, claim: RunClaim) -> list[str | int]:
    one = timedelta(days=1)
    return [
        codec.iso(claim.now),
        codec.iso(claim.scheduled_at),
        claim.linkedin_url,
        claim.profile_key,
        claim.today.isoformat(),
        engaged_since_text(claim.engaged_since),
        claim.day.isoformat(),
        (claim.day - one).isoformat(),
        (claim.day + one).isoformat(),
        slot_id,
        INFLIGHT_TTL_S,
    ]
