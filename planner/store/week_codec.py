"""How a week's meta and its day indexes are laid out, and how a plan is put back together.

Shared by both stores; the field encodings are those of :mod:`planner.store.codec`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from planner import keys
from planner.store.base import CorruptState, DayMeta, SlotRecord, WeekMeta
from planner.store.codec import (
    RawHash,
    canonical,
    decode_slot,
    describe,
    field_date,
    iso,
    require,
    text,
    text_hash,
    version,
    zone,
)
from planner.weekly_plan import SCHEMA_VERSION, WeeklyPlan, week_monday

META_FIELDS = (
    "layout",
    "schema_version",
    "revision",
    "account",
    "timezone",
    "week_start",
    "week_number",
    "created_at",
    "days",
    "settings",
)


# ---- week meta -------------------------------------------------------------------------


class _DayMetaModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    budget: int = Field(ge=0)
    is_burst_day: bool = False
    is_light_day: bool = False


_DAYS = TypeAdapter(dict[str, _DayMetaModel])


def encode_meta(plan: WeeklyPlan, settings_snapshot: Mapping[str, Any] | None) -> dict[str, str]:
    days = {
        key: {"budget": d.budget, "is_burst_day": d.is_burst_day, "is_light_day": d.is_light_day}
        for key, d in sorted(plan.days.items())
    }
    try:
        settings_json = json.dumps(dict(settings_snapshot or {}), sort_keys=True, default=str)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"settings snapshot is not JSON-serialisable: {exc}") from exc
    return {
        "layout": str(keys.KEY_LAYOUT),
        "schema_version": str(plan.schema_version),
        "revision": str(plan.revision),
        "account": plan.account,
        "timezone": plan.timezone,
        "week_start": plan.week_start.isoformat(),
        "week_number": str(plan.week_number),
        "created_at": iso(plan.created_at),
        "days": json.dumps(days, sort_keys=True),
        "settings": settings_json,
    }


def decode_meta(key: str, raw: RawHash) -> WeekMeta:
    fields = text_hash(raw, key)
    version(fields, "layout", key, keys.KEY_LAYOUT, "key layout")
    version(fields, "schema_version", key, SCHEMA_VERSION, "schema_version")
    require(fields, META_FIELDS, key)
    try:
        days = _DAYS.validate_json(fields["days"])
        settings = json.loads(fields["settings"])
        revision = int(fields["revision"])
        week_number = int(fields["week_number"])
        created_at = datetime.fromisoformat(fields["created_at"])
    except ValidationError as exc:
        raise CorruptState(key, f"field 'days': {describe(exc)}") from exc
    except ValueError as exc:  # JSONDecodeError is a ValueError too
        raise CorruptState(key, f"unreadable field: {exc}") from exc
    if not isinstance(settings, dict):
        raise CorruptState(key, "field 'settings' is not a JSON object")
    if created_at.tzinfo is None:
        raise CorruptState(key, "field 'created_at' has no UTC offset")
    zone(key, fields["timezone"])
    week_start = field_date(fields, "week_start", key)
    try:
        day_meta = {date.fromisoformat(k): DayMeta(**v.model_dump()) for k, v in days.items()}
    except ValueError as exc:
        raise CorruptState(key, f"field 'days': {exc}") from exc
    if key != canonical(key, keys.week_meta, fields["account"], week_start):
        raise CorruptState(key, f"holds the week {week_start} of {fields['account']!r}")
    if any(week_monday(d) != week_start for d in day_meta):
        raise CorruptState(key, f"field 'days' has a date outside the week of {week_start}")
    return WeekMeta(
        account=fields["account"],
        week_start=week_start,
        week_number=week_number,
        timezone=fields["timezone"],
        created_at=created_at.astimezone(UTC),
        schema_version=SCHEMA_VERSION,
        revision=revision,
        days=dict(sorted(day_meta.items())),
        settings=settings,
    )


def assemble_plan(
    meta_key: str, meta: WeekMeta, slots: Mapping[date, list[SlotRecord]]
) -> WeeklyPlan:
    """The plan from its meta and its slots (each day's list already in time order)."""
    days: dict[str, Any] = {}
    for day, day_meta in meta.days.items():
        records = slots.get(day, [])
        for record in records:
            if record.day != day or record.week_start != meta.week_start:
                raise CorruptState(
                    keys.slot(meta.account, record.engagement.slot_id),
                    f"belongs to {record.day} of the week of {record.week_start}, "
                    f"but is indexed under {day}",
                )
        days[day.isoformat()] = {
            "date": day,
            "budget": day_meta.budget,
            "is_burst_day": day_meta.is_burst_day,
            "is_light_day": day_meta.is_light_day,
            "engagements": [r.engagement for r in records],
        }
    try:
        return WeeklyPlan.model_validate(
            {
                "account": meta.account,
                "timezone": meta.timezone,
                "week_start": meta.week_start,
                "week_number": meta.week_number,
                "created_at": meta.created_at,
                "days": days,
                "schema_version": meta.schema_version,
                "revision": meta.revision,
            }
        )
    except ValidationError as exc:
        raise CorruptState(meta_key, describe(exc)) from exc


# ---- day indexes ---------------------------------------------------------------------


@dataclass(frozen=True)
class Indexed:
    """One member of a day zset: the slot it names and its score (epoch s)."""

    day: date
    slot_id: str
    slot_key: str
    score: float


def index_day(account: str, day: date, day_key: str, members: Iterable[Any]) -> list[Indexed]:
    """The ``(member, score)`` pairs of a day zset, in zset order."""
    out: list[Indexed] = []
    for member, score in members:
        slot_id = text(member, day_key)
        try:
            slot_key = keys.slot(account, slot_id)
        except ValueError as exc:
            raise CorruptState(day_key, str(exc)) from exc
        out.append(Indexed(day, slot_id, slot_key, float(score)))
    return out


def index_week(
    account: str,
    week_start: date,
    meta: WeekMeta,
    day_keys: list[str],
    zsets: list[Any],
) -> list[Indexed]:
    """Every slot the seven day zsets of a week list; refuses a day the plan lacks."""
    out: list[Indexed] = []
    for offset, (day_key, members) in enumerate(zip(day_keys, zsets, strict=True)):
        day = week_start + timedelta(days=offset)
        if members and day not in meta.days:
            raise CorruptState(day_key, f"indexes slots but {day} is not a day of the plan")
        out += index_day(account, day, day_key, members)
    return out


def decode_indexed(
    account: str, indexed: list[Indexed], raws: list[Any]
) -> list[tuple[date, SlotRecord]]:
    """Decode the slot hashes read for ``indexed``; each must exist and match its index."""
    out: list[tuple[date, SlotRecord]] = []
    for item, raw in zip(indexed, raws, strict=True):
        if not raw:
            raise CorruptState(
                keys.day_slots(account, item.day),
                f"lists slot {item.slot_id!r} but {item.slot_key} is missing",
            )
        record = decode_slot(item.slot_key, raw)
        if record.day != item.day:
            raise CorruptState(
                item.slot_key, f"belongs to {record.day} but is indexed under {item.day}"
            )
        if abs(record.engagement.scheduled_at.timestamp() - item.score) > 1e-3:
            raise CorruptState(
                item.slot_key, f"scheduled_at differs from its day index score {item.score}"
            )
        out.append((item.day, record))
    return out
