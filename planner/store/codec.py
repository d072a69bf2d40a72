"""How plans, slots and ledger entries are laid out in Redis values (shared by both stores).

Hash fields are strings: instants as ISO 8601 with ``+00:00``, dates ``YYYY-MM-DD``, booleans
``"1"`` / ``"0"``, numbers in ``repr`` form, absent optional instants as ``""``. Sorted-set
scores are epoch seconds. A slot hash also carries two derived fields for the claim script
(``planner/lua/slot_run.lua``), which parses no dates and normalises no URLs: ``at_us``,
``scheduled_at`` in epoch microseconds, and ``profile_key``, the ledger field of
``linkedin_url``; every writer of those two fields writes them too. They are optional when
decoding (a slot stored before them runs the longer way) and, where present, must agree with
what they derive from. Decoding goes through the pydantic models; anything unreadable is a
:class:`CorruptState` (or a :class:`SchemaMismatch` for a newer schema) naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from planner import keys
from planner.clock import to_us
from planner.ledger import LedgerEntry
from planner.profiles import profile_key
from planner.store.base import (
    CorruptState,
    SchemaMismatch,
    SlotBinding,
    SlotRecord,
)
from planner.weekly_plan import (
    SCHEMA_VERSION,
    ScheduledEngagement,
    Status,
)

RawHash = Mapping[bytes, bytes] | Mapping[str, str] | Mapping[bytes | str, bytes | str]

SLOT_FIELDS = (
    "v",
    "account",
    "week_start",
    "date",
    "slot_id",
    "index",
    "linkedin_url",
    "name",
    "scheduled_time",
    "scheduled_at",
    "priority_score",
    "days_since_last_like",
    "forced",
    "status",
    "attempts",
    "claimed_at",
    "finished_at",
    "reason",
)
SLOT_DERIVED = ("at_us", "profile_key")
"""Written with every slot, optional when reading (see the module's docstring)."""


def text(value: bytes | str, key: str) -> str:
    """A Redis reply as text (clients may or may not decode responses)."""
    if isinstance(value, str):
        return value
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptState(key, f"not UTF-8 text: {exc}") from exc


def text_hash(raw: RawHash, key: str) -> dict[str, str]:
    return {text(k, key): text(v, key) for k, v in raw.items()}


def iso(instant: datetime | None) -> str:
    if instant is None:
        return ""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"instant {instant.isoformat()} must be timezone-aware")
    return instant.astimezone(UTC).isoformat()


def epoch(instant: datetime) -> float:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"instant {instant.isoformat()} must be timezone-aware")
    return instant.timestamp()


def require(
    raw: Mapping[str, str], fields: tuple[str, ...], key: str, optional: tuple[str, ...] = ()
) -> None:
    missing = [f for f in fields if f not in raw]
    if missing:
        raise CorruptState(key, f"field {missing[0]!r} missing")
    extra = sorted(set(raw) - set(fields) - set(optional))
    if extra:
        raise CorruptState(key, f"unexpected field {extra[0]!r} (a foreign key layout?)")


def version(raw: Mapping[str, str], field: str, key: str, supported: int, what: str) -> None:
    if field not in raw:
        raise CorruptState(key, f"field {field!r} missing (not written by this store?)")
    try:
        found = int(raw[field])
    except ValueError:
        raise CorruptState(key, f"field {field!r} is not an integer: {raw[field]!r}") from None
    if found != supported:
        raise SchemaMismatch(key, what, str(found), str(supported))


def field_date(raw: Mapping[str, str], field: str, key: str) -> date:
    try:
        return date.fromisoformat(raw[field])
    except ValueError:
        raise CorruptState(key, f"field {field!r} is not a date: {raw[field]!r}") from None


def describe(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "value"
    more = len(exc.errors()) - 1
    return f"{where}: {err['msg']}" + (f" (+{more} more)" if more > 0 else "")


def canonical(key: str, make: Any, account: str, part: Any) -> str:
    """The key this data should live at (ValueError from a bad account -> CorruptState)."""
    try:
        return str(make(account, part))
    except ValueError as exc:
        raise CorruptState(key, str(exc)) from exc


# ---- slots -----------------------------------------------------------------------------


def encode_slot(
    account: str, week_start: date, day: date, e: ScheduledEngagement
) -> dict[str, str]:
    return {
        "v": str(SCHEMA_VERSION),
        "account": account,
        "week_start": week_start.isoformat(),
        "date": day.isoformat(),
        "slot_id": e.slot_id,
        "index": str(e.index),
        "linkedin_url": e.linkedin_url,
        "profile_key": url_key(e.linkedin_url),
        "name": e.name,
        "scheduled_time": e.scheduled_time,
        "scheduled_at": iso(e.scheduled_at),
        "at_us": str(to_us(e.scheduled_at)),
        "priority_score": repr(float(e.priority_score)),
        "days_since_last_like": repr(float(e.days_since_last_like)),
        "forced": "1" if e.forced else "0",
        "status": e.status.value,
        "attempts": str(e.attempts),
        "claimed_at": iso(e.claimed_at),
        "finished_at": iso(e.finished_at),
        "reason": e.reason,
    }


def decode_slot(key: str, raw: RawHash) -> SlotRecord:
    fields = text_hash(raw, key)
    version(fields, "v", key, SCHEMA_VERSION, "schema_version")
    require(fields, SLOT_FIELDS, key, SLOT_DERIVED)
    if fields["forced"] not in ("0", "1"):
        raise CorruptState(key, f"field 'forced' is not 0/1: {fields['forced']!r}")
    data: dict[str, Any] = {
        name: fields[name] for name in SLOT_FIELDS[4:] if name not in ("claimed_at", "finished_at")
    }
    data["claimed_at"] = fields["claimed_at"] or None
    data["finished_at"] = fields["finished_at"] or None
    try:
        engagement = ScheduledEngagement.model_validate(data)
    except ValidationError as exc:
        raise CorruptState(key, describe(exc)) from exc
    if key != canonical(key, keys.slot, fields["account"], engagement.slot_id):
        raise CorruptState(key, f"holds slot {engagement.slot_id!r} of {fields['account']!r}")
    _check_derived(key, fields, engagement)
    return SlotRecord(
        account=fields["account"],
        week_start=field_date(fields, "week_start", key),
        day=field_date(fields, "date", key),
        engagement=engagement,
    )


def url_key(linkedin_url: str) -> str:
    """The ``profile_key`` field of a slot bound to ``linkedin_url`` ('' when unbound)."""
    return profile_key(linkedin_url) if linkedin_url else ""


BINDING_FIELDS = (
    "linkedin_url",
    "profile_key",
    "name",
    "priority_score",
    "days_since_last_like",
    "forced",
)


def _check_derived(key: str, fields: Mapping[str, str], e: ScheduledEngagement) -> None:
    """The derived fields, where present, agree with what they derive from: the claim
    script trusts them."""
    at_us = fields.get("at_us")
    if at_us is not None and at_us != str(to_us(e.scheduled_at)):
        raise CorruptState(
            key, f"field 'at_us' {at_us!r} is not scheduled_at {fields['scheduled_at']}"
        )
    found = fields.get("profile_key")
    if found is not None and found != url_key(e.linkedin_url):
        raise CorruptState(key, f"field 'profile_key' {found!r} is not that of {e.linkedin_url!r}")


def encode_binding(binding: SlotBinding) -> list[str]:
    """The slot fields ``revise`` re-binds (:data:`BINDING_FIELDS`, the order
    slot_rebind.lua reads them in)."""
    return [
        binding.linkedin_url,
        url_key(binding.linkedin_url),
        binding.name,
        repr(float(binding.priority_score)),
        repr(float(binding.days_since_last_like)),
        "1" if binding.forced else "0",
    ]


def zone(key: str, name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CorruptState(key, f"unknown time zone {name!r}") from exc


def reschedule_time(
    key: str,
    new_instant: datetime,
    scheduled_time: str | None,
    *,
    tz_name: str,
    day: date,
    expected: Status,
) -> str:
    """The local HH:MM of ``new_instant``; ValueError unless it is a valid move for ``day``."""
    if expected not in (Status.PENDING, Status.CLAIMED):
        raise ValueError(f"only pending or claimed slots can be rescheduled, not {expected.value}")
    iso(new_instant)  # refuses a naive instant
    local = new_instant.astimezone(zone(key, tz_name))
    if local.date() != day:
        raise ValueError(
            f"{key}: {new_instant.isoformat()} is {local:%Y-%m-%d %H:%M} in {tz_name}, "
            f"not on the slot's day {day}"
        )
    hhmm = f"{local:%H:%M}"
    if scheduled_time is not None and scheduled_time != hhmm:
        raise ValueError(f"{key}: scheduled_time {scheduled_time!r} is not {hhmm} local")
    return hhmm


# ---- ledger ----------------------------------------------------------------------------


def encode_ledger(entry: LedgerEntry) -> str:
    return entry.model_dump_json()


def decode_ledger(key: str, raw: RawHash) -> dict[str, LedgerEntry]:
    out: dict[str, LedgerEntry] = {}
    for field, value in text_hash(raw, key).items():
        try:
            out[field] = LedgerEntry.model_validate_json(value)
        except ValidationError as exc:
            raise CorruptState(key, f"field {field!r}: {describe(exc)}") from exc
    return dict(sorted(out.items()))
