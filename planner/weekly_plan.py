"""The weekly plan: pydantic models with the seed's fields (section 4.1) and JSON schema (6).

A plan is plain data. ``to_json()`` gives the seed's ``plan`` object (plus a few extension
keys: ``account``, ``timezone``, ``schema_version``, ``revision``, and per engagement
``slot_id``, ``index``, ``scheduled_at``, ``attempts``, ``claimed_at``, ``finished_at``,
``reason``); ``from_json()`` accepts that, or a bare seed document without the extension
keys, and derives what is missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Self
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    computed_field,
    field_validator,
    model_validator,
)

SCHEMA_VERSION = 1
ACCOUNT_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_ACCOUNT_RE = re.compile(ACCOUNT_PATTERN)


class PlanError(ValueError):
    """Raised when plan data is malformed; the message says what and where."""


class Status(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"
    ALREADY_REACTED = "already_reacted"
    NO_POSTS = "no_posts"
    MISSED = "missed"
    UNKNOWN = "unknown"


HANDLER_OUTCOMES = frozenset({Status.DONE, Status.FAILED, Status.ALREADY_REACTED, Status.NO_POSTS})
"""Outcomes a handler may report: the handler ran, so the slot counts as executed."""

TERMINAL = frozenset(Status) - {Status.PENDING, Status.CLAIMED}
"""Statuses a slot never leaves."""


def validate_account(account: str) -> str:
    if not _ACCOUNT_RE.fullmatch(account):
        raise PlanError(f"account {account!r} must match {ACCOUNT_PATTERN}")
    return account


def slot_id_for(account: str, day: date, index: int) -> str:
    """Stable id of slot ``index`` of ``day``; matches ``[A-Za-z0-9_-]+`` (an RQ job id)."""
    return f"{validate_account(account)}-{day:%Y%m%d}-{index:03d}"


def week_monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def iso_week_label(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def parse_iso_week(label: str) -> date:
    """``2026-W07`` -> the Monday of that ISO week."""
    match = re.fullmatch(r"(\d{4})-?W(\d{2})", label.strip())
    if not match:
        raise PlanError(f"week {label!r} is not of the form YYYY-Www (e.g. 2026-W07)")
    try:
        return date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError as exc:
        raise PlanError(f"week {label!r} does not exist: {exc}") from exc


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ScheduledEngagement(_Model):
    """One slot: a time of day, and the profile bound to it (late, see ``revise``)."""

    slot_id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    index: int = Field(ge=0)
    linkedin_url: str
    name: str
    scheduled_time: str = Field(pattern=r"^\d{2}:\d{2}$")  # local HH:MM, as in the seed
    scheduled_at: datetime  # the exact instant, aware UTC
    priority_score: float
    days_since_last_like: float
    forced: bool
    status: Status = Status.PENDING
    attempts: int = Field(0, ge=0)
    claimed_at: datetime | None = None
    finished_at: datetime | None = None
    reason: str = ""

    @field_validator("scheduled_at", "claimed_at", "finished_at")
    @classmethod
    def _aware_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("must carry a UTC offset")
        return value.astimezone(UTC)

    @property
    def is_open(self) -> bool:
        """Not yet run: its profile may still be re-bound."""
        return self.status is Status.PENDING


class DailySlot(_Model):
    """One day of the plan: its budget and its engagements in time order."""

    date: date
    budget: int = Field(ge=0)
    engagements: list[ScheduledEngagement]
    is_burst_day: bool = False
    is_light_day: bool = False

    @computed_field  # type: ignore[prop-decorator]
    @property
    def completed(self) -> int:
        """How many slots were actually executed (the handler ran)."""
        return sum(e.status in HANDLER_OUTCOMES for e in self.engagements)


class WeeklyPlan(_Model):
    """A week of one account: budgets, slots and their outcomes."""

    account: str = Field("default", pattern=ACCOUNT_PATTERN)
    timezone: str = "UTC"
    week_start: date
    week_number: int = Field(ge=1, le=53)
    created_at: datetime
    days: dict[str, DailySlot]
    schema_version: int = SCHEMA_VERSION
    revision: int = Field(0, ge=0)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total_budget(self) -> int:
        return sum(d.budget for d in self.days.values())

    @field_validator("created_at")
    @classmethod
    def _created_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry a UTC offset")
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.schema_version != SCHEMA_VERSION:
            raise ValueError(
                f"schema_version {self.schema_version} is not supported (this is "
                f"version {SCHEMA_VERSION})"
            )
        if self.week_start.weekday() != 0:
            raise ValueError(f"week_start {self.week_start} is not a Monday")
        if self.week_start.isocalendar()[1] != self.week_number:
            raise ValueError(
                f"week_number {self.week_number} does not match week_start {self.week_start}"
            )
        ZoneInfo(self.timezone)
        for key, day in self.days.items():
            if key != day.date.isoformat():
                raise ValueError(f"days[{key!r}] holds the date {day.date}")
            if week_monday(day.date) != self.week_start:
                raise ValueError(f"days[{key!r}] is outside the week of {self.week_start}")
            if len(day.engagements) > day.budget:
                raise ValueError(
                    f"days[{key!r}] has {len(day.engagements)} engagements for a budget "
                    f"of {day.budget}"
                )
        return self

    # ---- queries ------------------------------------------------------------------------

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def label(self) -> str:
        return iso_week_label(self.week_start)

    def local_date(self, instant: datetime) -> date:
        return instant.astimezone(self.tz).date()

    def get_today(self, now: datetime) -> DailySlot | None:
        return self.days.get(self.local_date(now).isoformat())

    def total_completed(self) -> int:
        return sum(d.completed for d in self.days.values())

    def slots(self) -> Iterator[ScheduledEngagement]:
        for key in sorted(self.days):
            yield from self.days[key].engagements

    def slot(self, slot_id: str) -> ScheduledEngagement:
        for engagement in self.slots():
            if engagement.slot_id == slot_id:
                return engagement
        raise KeyError(slot_id)

    # ---- the seed's JSON ----------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The seed's section 6 ``plan`` object (plus extension keys)."""
        data = self.model_dump(mode="json")
        data["total_budget"] = self.total_budget
        return data

    @classmethod
    def from_json(cls, data: Any, *, account: str | None = None) -> WeeklyPlan:
        """Parse a plan object; derive what a bare seed document leaves out.

        Naive timestamps in a bare seed document are read in the plan's time zone.
        Raises PlanError naming the first bad field.
        """
        if not isinstance(data, dict):
            raise PlanError(f"plan must be a JSON object, got {type(data).__name__}")
        try:
            return cls.model_validate(_fill_seed_gaps(data, account))
        except ValidationError as exc:
            raise PlanError(describe_plan_error(exc)) from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise PlanError(f"plan: {exc}") from exc


def describe_plan_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "plan"
        parts.append(f"{where}: {err['msg']}")
    more = len(exc.errors()) - 5
    return "invalid plan: " + "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _fill_seed_gaps(data: dict[str, Any], account: str | None) -> dict[str, Any]:
    """Copy ``data``, adding the extension keys a bare seed plan does not carry."""
    out = dict(data)
    out.pop("total_budget", None)  # derived; a stale value must not be trusted
    acct = account or out.get("account") or "default"
    out["account"] = acct
    tz = ZoneInfo(out.setdefault("timezone", "UTC"))
    out["created_at"] = _aware(out.get("created_at"), tz)
    days = out.get("days")
    if not isinstance(days, dict):
        return out
    new_days: dict[str, Any] = {}
    for key, raw_day in days.items():
        if not isinstance(raw_day, dict):
            new_days[key] = raw_day
            continue
        day = dict(raw_day)
        day.pop("completed", None)  # derived from the statuses
        day.setdefault("date", key)
        engagements = day.get("engagements")
        if isinstance(engagements, list):
            day["engagements"] = [
                _fill_engagement(dict(item), acct, key, index, tz)
                if isinstance(item, dict)
                else item
                for index, item in enumerate(engagements)
            ]
        new_days[key] = day
    out["days"] = new_days
    return out


def _fill_engagement(
    item: dict[str, Any], account: str, day_key: str, index: int, tz: ZoneInfo
) -> dict[str, Any]:
    day = date.fromisoformat(day_key)
    item.setdefault("index", index)
    item.setdefault("slot_id", slot_id_for(account, day, int(item["index"])))
    hhmm = item.get("scheduled_time")
    if "scheduled_at" not in item and isinstance(hhmm, str) and re.fullmatch(r"\d{2}:\d{2}", hhmm):
        local = datetime.combine(day, time.fromisoformat(hhmm), tzinfo=tz)
        item["scheduled_at"] = local.astimezone(UTC).isoformat()
    for key in ("claimed_at", "finished_at"):
        if key in item and item[key] is not None:
            item[key] = _aware(item[key], tz)
    return item


def _aware(value: Any, tz: ZoneInfo) -> Any:
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=tz)
        return parsed.isoformat()
    return value
