"""The ``schedule_state.json`` document: pydantic models, derived counters, redaction.

Strict models (``extra="forbid"``, no type coercion): a file that says ``"7"`` where a
count belongs, or carries a key this version does not know, is refused, not guessed at.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

from planner.clock import from_us, to_us
from planner.guard import WINDOW_S, windows
from planner.ledger import LedgerEntry
from planner.profiles import Profile
from planner.weekly_plan import ACCOUNT_PATTERN, WeeklyPlan, week_monday

STATE_SCHEMA_VERSION = 1

NonNeg = Annotated[int, Field(ge=0)]
SlotId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$")]
WeekLabel = Annotated[str, Field(pattern=r"^\d{4}-W\d{2}$")]


class StateFileError(ValueError):
    """Raised when a state file is refused; names the file and the JSON path of the problem."""

    def __init__(self, source: str, where: str, reason: str) -> None:
        super().__init__(f"{source}: {where}: {reason}")
        self.source = source
        self.where = where
        self.reason = reason


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Counters(_Strict):
    """The seed's counters, as a view of the guard state at ``saved_at``."""

    daily_count: NonNeg
    weekly_count: NonNeg
    hourly_count: NonNeg
    hourly_reset_time: datetime  # the oldest action in the rolling hour (it leaves at +1h)
    daily_reset_date: date
    weekly_reset_date: date


class _Expiring(_Strict):
    expires_at_ms: NonNeg | None = None  # Redis clock, epoch ms (whole seconds); None: never


class HourEntry(_Strict):
    id: SlotId
    at_us: NonNeg


class HourWindow(_Expiring):
    entries: list[HourEntry]


class Count(_Expiring):
    count: NonNeg


class Instant(_Expiring):
    at_us: NonNeg


class Reservation(_Expiring):
    at_us: NonNeg
    day: date
    week: WeekLabel


class GuardState(_Strict):
    """The guard's keys (see :mod:`planner.keys`), value for value, and ``last``.

    ``last`` is the newest action: the newest ``hour`` entry, with the hour zset's expiry.
    It is derived, written for readers of the file; import ignores it. (Files from before
    the guard dropped its ``guard:last`` key hold that key's value here, which was the same
    instant.) ``reservations`` are stored as strings; older layouts stored hashes of the
    same three values, and either is exported the same way.
    """

    hour: HourWindow | None = None
    days: dict[date, Count] = Field(default_factory=dict)
    weeks: dict[WeekLabel, Count] = Field(default_factory=dict)
    last: Instant | None = None
    trimmed: Instant | None = None
    reservations: dict[SlotId, Reservation] = Field(default_factory=dict)

    @field_validator("hour")
    @classmethod
    def _unique(cls, hour: HourWindow | None) -> HourWindow | None:
        ids = [e.id for e in hour.entries] if hour else []
        if len(set(ids)) != len(ids):
            raise ValueError("hour entries repeat a reservation id")
        return hour


class BreakerState(_Strict):
    failures: NonNeg | None = None
    paused_day: date | None = None


class OutboxItem(_Strict):
    profile_key: str
    engaged_at: datetime | None
    outcome: str
    at: datetime


class StateDocument(_Strict):
    schema_version: int
    account: str = Field(pattern=ACCOUNT_PATTERN)
    timezone: str
    saved_at: datetime
    counters: Counters
    week: WeekLabel | None = None
    plan: dict[str, Any] | None = None  # validated by WeeklyPlan.from_json
    plan_settings: dict[str, Any] | None = None
    ledger: dict[str, LedgerEntry] = Field(default_factory=dict)
    profiles: dict[str, Profile] = Field(default_factory=dict)
    guard: GuardState = Field(default_factory=GuardState)
    breaker: BreakerState = Field(default_factory=BreakerState)
    outbox: list[OutboxItem] = Field(default_factory=list)


@dataclass(frozen=True)
class StateFile:
    """A validated document, its parsed plan, and where it came from."""

    source: str
    doc: StateDocument
    plan: WeeklyPlan | None


def derive_counters(guard: GuardState, at: datetime, tz: ZoneInfo) -> Counters:
    """The seed's counters at ``at``: what ``Guard.usage`` would report then."""
    win = windows(at, tz)
    now_us = to_us(at)
    entries = guard.hour.entries if guard.hour else []
    recent = [e.at_us for e in entries if now_us - WINDOW_S * 1_000_000 < e.at_us <= now_us]
    day, week = guard.days.get(win.local_day), guard.weeks.get(win.iso_week)
    return Counters(
        daily_count=day.count if day else 0,
        weekly_count=week.count if week else 0,
        hourly_count=len(recent),
        hourly_reset_time=(from_us(min(recent)) if recent else at).astimezone(tz),
        daily_reset_date=win.local_day,
        weekly_reset_date=week_monday(win.local_day),
    )


def json_path(loc: Sequence[int | str]) -> str:
    """``("plan", "days", "2026-02-09", 0)`` -> ``$.plan.days["2026-02-09"][0]``."""
    out = "$"
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}"
        else:
            out += f"[{json.dumps(part)}]"
    return out


_SECRET_WORDS = ("SECRET", "PASSWORD", "TOKEN", "GOOGLE_")


def redact_settings(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """The settings snapshot without credentials (idempotent, so round trips stay exact).

    Secret-like names are dropped; REDIS_URL loses its user info and query (redis-py reads
    a password from either); WEBHOOK_URL keeps only scheme and host (an n8n webhook path
    is itself the credential).
    """
    out: dict[str, Any] = {}
    for name, value in snapshot.items():
        if any(word in name.upper() for word in _SECRET_WORDS):
            continue
        if name in ("REDIS_URL", "WEBHOOK_URL") and isinstance(value, str) and value:
            out[name] = _redact_url(value, keep_path=name == "REDIS_URL")
        else:
            out[name] = value
    return out


def _redact_url(url: str, *, keep_path: bool) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    netloc = f"***@{host}" if "@" in parts.netloc else host
    path = parts.path if keep_path else ("/***" if parts.path.strip("/") else parts.path)
    return urlunsplit((parts.scheme, netloc, path, "", ""))
