"""The coverage ledger: per profile, what happened last. Pure functions over plain data."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, field_validator

from config.settings import Settings
from planner.profiles import Profile
from planner.weekly_plan import Status

UNREACHABLE_ANSWERS = frozenset({Status.NO_POSTS, Status.ALREADY_REACTED})


class LedgerEntry(BaseModel):
    """What the ledger knows of one profile (keyed by ``profile_key``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    last_done_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_outcome: Status | None = None
    consecutive_non_done: int = 0
    consecutive_unreachable: int = 0
    cooldown_until: datetime | None = None

    @field_validator("last_done_at", "last_attempt_at", "cooldown_until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must carry a UTC offset")
        return None if value is None else value.astimezone(UTC)


def record_outcome(
    entry: LedgerEntry | None, outcome: Status, at: datetime, settings: Settings
) -> LedgerEntry:
    """The ledger entry after ``outcome`` at instant ``at``.

    ``done`` resets the coverage clock. ``no_posts`` / ``already_reacted`` leave it ticking;
    after UNREACHABLE_AFTER_ATTEMPTS of them in a row the profile cools down for
    UNREACHABLE_COOLDOWN_DAYS (retrying daily would only waste budget). ``failed`` is our
    problem, not the profile's: it neither resets coverage nor moves toward a cooldown.
    Outcomes where no attempt happened (skipped, missed) do not change the entry.
    """
    entry = entry or LedgerEntry()
    if outcome not in (Status.DONE, Status.FAILED, *UNREACHABLE_ANSWERS, Status.UNKNOWN):
        return entry
    if outcome is Status.DONE:
        return entry.model_copy(
            update={
                "last_done_at": at,
                "last_attempt_at": at,
                "last_outcome": outcome,
                "consecutive_non_done": 0,
                "consecutive_unreachable": 0,
                "cooldown_until": None,
            }
        )
    unreachable = entry.consecutive_unreachable + (1 if outcome in UNREACHABLE_ANSWERS else 0)
    cooldown = entry.cooldown_until
    if unreachable >= settings.UNREACHABLE_AFTER_ATTEMPTS:
        cooldown = at + timedelta(days=settings.UNREACHABLE_COOLDOWN_DAYS)
        unreachable = 0
    return entry.model_copy(
        update={
            "last_attempt_at": at,
            "last_outcome": outcome,
            "consecutive_non_done": entry.consecutive_non_done + 1,
            "consecutive_unreachable": unreachable,
            "cooldown_until": cooldown,
        }
    )


def last_done(profile: Profile, entry: LedgerEntry | None) -> datetime | None:
    """The later of the source's last engagement and the ledger's last success."""
    candidates = [t for t in (profile.last_engaged_at, entry and entry.last_done_at) if t]
    return max(candidates) if candidates else None


def days_since(profile: Profile, entry: LedgerEntry | None, now: datetime) -> float:
    """Days since the last successful engagement; never engaged counts as very long ago."""
    when = last_done(profile, entry)
    if when is None:
        return NEVER_ENGAGED_DAYS
    return max(0.0, (now - when).total_seconds() / 86_400)


NEVER_ENGAGED_DAYS = 365.0


def in_cooldown(entry: LedgerEntry | None, now: datetime) -> bool:
    return bool(entry and entry.cooldown_until and entry.cooldown_until > now)


Ledger = Mapping[str, LedgerEntry]
"""profile_key -> entry."""
