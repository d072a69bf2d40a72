"""The coverage ledger: per profile, what happened last. Pure functions over plain data."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, Protocol

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


class LedgerView(Protocol):
    """What planning reads of a ledger entry: a ``LedgerEntry``, or a ``LedgerState``."""

    @property
    def last_done_at(self) -> datetime | None: ...

    @property
    def cooldown_until(self) -> datetime | None: ...


class LedgerState(NamedTuple):
    """A ledger entry's fields as a plain tuple: the same rule, without model overhead.

    ``advance`` works on these; the coverage simulation keeps its ledger in them (hundreds
    of thousands of outcomes), the product keeps validated ``LedgerEntry`` models.
    """

    last_done_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_outcome: Status | None = None
    consecutive_non_done: int = 0
    consecutive_unreachable: int = 0
    cooldown_until: datetime | None = None


_COUNTED = frozenset({Status.DONE, Status.FAILED, *UNREACHABLE_ANSWERS, Status.UNKNOWN})
"""Outcomes where an attempt happened; skipped and missed ones change nothing."""
_DONE = Status.DONE  # a module global reads several times faster than an enum member
# ``_tuple_new(LedgerState, (six values))`` is ``LedgerState(six values)``, the same tuple,
# minus the Python frame of the NamedTuple's generated ``__new__`` (the coverage simulation
# advances hundreds of thousands of states).
_tuple_new = tuple.__new__


def advance(state: LedgerState, outcome: Status, at: datetime, settings: Settings) -> LedgerState:
    """The state after ``outcome`` at the aware UTC instant ``at`` (``state`` itself if none).

    ``done`` resets the coverage clock. ``no_posts`` / ``already_reacted`` leave it ticking;
    after UNREACHABLE_AFTER_ATTEMPTS of them in a row the profile cools down for
    UNREACHABLE_COOLDOWN_DAYS (retrying daily would only waste budget). ``failed`` is our
    problem, not the profile's: it neither resets coverage nor moves toward a cooldown.
    Outcomes where no attempt happened (skipped, missed) do not change the state.
    """
    if outcome not in _COUNTED:
        return state
    if outcome is _DONE:
        return _tuple_new(LedgerState, (at, at, outcome, 0, 0, None))
    unreachable = state.consecutive_unreachable + (1 if outcome in UNREACHABLE_ANSWERS else 0)
    cooldown = state.cooldown_until
    if unreachable >= settings.UNREACHABLE_AFTER_ATTEMPTS:
        cooldown = at + timedelta(days=settings.UNREACHABLE_COOLDOWN_DAYS)
        unreachable = 0
    return _tuple_new(
        LedgerState,
        (state.last_done_at, at, outcome, state.consecutive_non_done + 1, unreachable, cooldown),
    )


def record_outcome(
    entry: LedgerEntry | None, outcome: Status, at: datetime, settings: Settings
) -> LedgerEntry:
    """The ledger entry after ``outcome`` at instant ``at`` (the rule is ``advance``'s)."""
    entry = entry or LedgerEntry()
    state = LedgerState(*(getattr(entry, name) for name in LedgerState._fields))
    after = advance(state, outcome, at, settings)
    if after is state:
        return entry
    changed = LedgerState._fields if outcome is Status.DONE else LedgerState._fields[1:]
    return entry.model_copy(update={name: getattr(after, name) for name in changed})


def last_done(profile: Profile, entry: LedgerView | None) -> datetime | None:
    """The later of the source's last engagement and the ledger's last success."""
    candidates = [t for t in (profile.last_engaged_at, entry and entry.last_done_at) if t]
    return max(candidates) if candidates else None


def days_since(profile: Profile, entry: LedgerView | None, now: datetime) -> float:
    """Days since the last successful engagement; never engaged counts as very long ago."""
    when = last_done(profile, entry)
    if when is None:
        return NEVER_ENGAGED_DAYS
    return max(0.0, (now - when).total_seconds() / 86_400)


NEVER_ENGAGED_DAYS = 365.0


def in_cooldown(entry: LedgerView | None, now: datetime) -> bool:
    return bool(entry and entry.cooldown_until and entry.cooldown_until > now)


Ledger = Mapping[str, LedgerEntry]
"""profile_key -> entry."""
