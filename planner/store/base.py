"""The plan store interface, the values it returns and its errors.

Two implementations keep the same contract (``tests/test_store_contract.py`` runs one suite
against both): :class:`planner.store.redis_store.RedisPlanStore` (the source of truth) and
:class:`planner.store.memory_store.MemoryPlanStore` (its in-memory twin for the pure paths
and the simulations).

Every instant given to a store must be timezone-aware; it is stored in UTC. A failed load
or a refused write leaves the stored state exactly as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import IntEnum
from typing import Any, Protocol

from planner.ledger import LedgerEntry
from planner.weekly_plan import ScheduledEngagement, Status, WeeklyPlan

# ---- errors ----------------------------------------------------------------------------


class StoreError(Exception):
    """Base of every error raised by a plan store."""


class StoreUnavailable(StoreError):
    """Raised when the Redis server cannot be reached (wraps the redis-py error)."""


class CorruptState(StoreError):
    """Raised when stored data cannot be read back: bad JSON, a missing field, a wrong type."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"corrupt state at {key}: {reason}")
        self.key = key
        self.reason = reason


class SchemaMismatch(StoreError):
    """Raised when stored data carries a schema or key layout this code does not read."""

    def __init__(self, key: str, what: str, found: str, supported: str) -> None:
        super().__init__(
            f"{key}: {what} {found} is not supported (this code reads {what} {supported}); "
            "a newer version of the scheduler probably wrote it"
        )
        self.key = key
        self.found = found
        self.supported = supported


class WeekExists(StoreError):
    """Raised when saving a week that is already stored, without ``replace=True``."""

    def __init__(self, key: str) -> None:
        super().__init__(f"{key}: a plan for this week already exists (pass replace=True)")
        self.key = key


class WeekNotFound(StoreError):
    """Raised when an operation needs a stored week that does not exist."""

    def __init__(self, key: str) -> None:
        super().__init__(f"{key}: no plan stored for this week")
        self.key = key


class SlotNotFound(StoreError):
    """Raised when a slot id names no stored slot."""

    def __init__(self, key: str) -> None:
        super().__init__(f"{key}: no such slot")
        self.key = key


class SlotStateError(StoreError):
    """Raised when a write needs a slot in one status and finds it in another."""

    def __init__(self, key: str, expected: Status, actual: str) -> None:
        super().__init__(f"{key}: slot is {actual!r}, expected {expected.value!r}")
        self.key = key
        self.expected = expected
        self.actual = actual


# ---- values ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SlotRecord:
    """A stored slot and where it belongs."""

    account: str
    week_start: date
    day: date
    engagement: ScheduledEngagement


@dataclass(frozen=True)
class SlotBinding:
    """Who fills a slot: what ``revise`` re-binds on a still-pending slot."""

    linkedin_url: str
    name: str
    priority_score: float
    days_since_last_like: float
    forced: bool


@dataclass(frozen=True)
class DayMeta:
    """A plan day's budget and flags (its slots live in their own hashes)."""

    budget: int
    is_burst_day: bool = False
    is_light_day: bool = False


@dataclass(frozen=True)
class WeekMeta:
    """What a week stores besides its slots."""

    account: str
    week_start: date
    week_number: int
    timezone: str
    created_at: datetime
    schema_version: int
    revision: int
    days: dict[date, DayMeta]
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def budgets(self) -> dict[date, int]:
        return {day: meta.budget for day, meta in self.days.items()}


class Begun(IntEnum):
    """What ``begin_run`` did (the codes of ``planner/lua/slot_begin.lua``)."""

    CLAIMED = 1
    """Claimed and registered in flight: the run goes on."""
    CLAIMED_IN_FLIGHT_ELSEWHERE = 2
    """Claimed, not registered: another slot of the profile (day before, same day or day
    after) is in flight. The run must give the claim back (re-time or miss), not act."""
    NOT_PENDING = 0
    NOT_FOUND = -1
    CHANGED = -2
    """Still pending, but re-timed or re-bound since the caller read it: read again."""
    PAUSED = -3
    ENGAGED_RECENTLY = -4


@dataclass(frozen=True)
class RunClaim:
    """What ``begin_run`` checks and writes; the caller read the slot a moment before.

    ``scheduled_at`` and ``linkedin_url`` are the values read: the claim is refused
    (``CHANGED``) if the slot no longer holds them. ``today`` is the account's local date
    now (a breaker paused on it refuses), ``day`` the slot's local day. ``engaged_since``
    is the first instant of the local day before ``day``: a ledger ``last_done_at`` at or
    after it refuses (I5). A run in flight for the profile on ``day`` - 1, ``day`` or
    ``day`` + 1 by another slot makes the claim ``CLAIMED_IN_FLIGHT_ELSEWHERE``.
    """

    now: datetime
    scheduled_at: datetime
    linkedin_url: str
    profile_key: str
    day: date
    today: date
    engaged_since: datetime


@dataclass(frozen=True)
class BeginResult:
    code: Begun
    detail: str = ""
    """The status when NOT_PENDING; the other run's in-flight entry; last_done_at."""
    ledger_entry: LedgerEntry | None = None
    """The profile's ledger entry as it was at the claim."""


@dataclass(frozen=True)
class RunOutcome:
    """What ``end_run`` writes: the handler's outcome and everything that follows from it."""

    status: Status
    at: datetime
    reason: str
    profile_key: str
    ledger_entry: LedgerEntry
    today: date
    """The local date the breaker pauses if this outcome trips it."""
    breaker_threshold: int
    outbox_item: str | None = None
    """An encoded write-back update (``planner.outbox.encode``), or None."""


@dataclass(frozen=True)
class EndResult:
    finished: bool
    """False: the slot was no longer claimed (``status`` says what it was, "" if gone);
    only the ledger entry was written and the in-flight entry ended."""
    status: str
    tripped: bool = False
    """This outcome paused the account for ``today`` (the breaker)."""


INFLIGHT_TTL_S = 8 * 86_400
"""The in-flight hash expires this long after the account's last claim."""


ALLOWED_TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    # the job found it too late / outside hours, or the plan dropped it
    Status.PENDING: frozenset({Status.MISSED, Status.SKIPPED}),
    # crash recovery (unknown), a claim given back before the handler ran (pending),
    # or the worker gave up before calling the handler (missed / skipped)
    Status.CLAIMED: frozenset({Status.UNKNOWN, Status.PENDING, Status.MISSED, Status.SKIPPED}),
}
"""``set_slot_status`` transitions; handler outcomes go through ``finish_slot``."""


def check_transition(expected: Status, new: Status) -> None:
    """Raise ValueError unless ``expected -> new`` is a ``set_slot_status`` transition."""
    if new not in ALLOWED_TRANSITIONS.get(expected, frozenset()):
        raise ValueError(f"slot status transition {expected.value} -> {new.value} is not allowed")


def check_finish_status(status: Status) -> None:
    """Raise ValueError unless ``status`` may end a claimed slot."""
    if status in (Status.PENDING, Status.CLAIMED):
        raise ValueError(f"finish_slot needs a terminal status, got {status.value!r}")


# ---- the interface ---------------------------------------------------------------------


class PlanStore(Protocol):
    """Plans, slots and the coverage ledger of any number of accounts."""

    def save_week(
        self,
        plan: WeeklyPlan,
        *,
        replace: bool = False,
        settings_snapshot: Mapping[str, Any] | None = None,
    ) -> None:
        """Store ``plan`` in one transaction; WeekExists if stored and not ``replace``."""
        ...

    def load_week(self, account: str, week_start: date) -> WeeklyPlan | None:
        """The stored plan, or None; CorruptState / SchemaMismatch if unreadable."""
        ...

    def week_meta(self, account: str, week_start: date) -> WeekMeta | None:
        """The stored meta of a week (budgets, settings snapshot, revision), or None."""
        ...

    def list_weeks(self, account: str) -> list[date]:
        """Week starts of every stored plan, oldest first."""
        ...

    def delete_week(self, account: str, week_start: date) -> bool:
        """Remove a week and its slots; False if there was none."""
        ...

    def load_slot(self, account: str, slot_id: str) -> SlotRecord:
        """One slot; SlotNotFound if absent."""
        ...

    def slots_of_day(self, account: str, day: date) -> list[ScheduledEngagement]:
        """The slots of ``day`` in time order."""
        ...

    def claim_slot(self, account: str, slot_id: str, now: datetime) -> bool:
        """pending -> claimed (claimed_at, attempts + 1); False, changing nothing, otherwise."""
        ...

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
        """claimed -> ``status`` plus the ledger entry, atomically; SlotStateError if not."""
        ...

    def begin_run(self, account: str, slot_id: str, claim: RunClaim) -> BeginResult:
        """The claim of a run with its checks, atomically (see :class:`RunClaim`).

        Only ``CLAIMED`` and ``CLAIMED_IN_FLIGHT_ELSEWHERE`` write; every other code leaves
        the state as it was. CorruptState if the slot, its ledger entry or a key is bad.
        """
        ...

    def end_run(self, account: str, slot_id: str, outcome: RunOutcome) -> EndResult:
        """claimed -> outcome, ledger entry, in-flight end, breaker and outbox, atomically.

        A slot no longer claimed (or gone) still gets its ledger entry and its in-flight
        entry ended (the action did happen); nothing else changes then.
        """
        ...

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
        """``expected -> new`` if the slot is still ``expected``; False otherwise.

        Leaving ``claimed`` for anything but ``unknown`` (the claim ended before its handler
        ran) also ends the slot's in-flight entry; ``unknown`` keeps it, so a run that may
        have acted still blocks its profile's neighbouring days (I5, conservatively).
        """
        ...

    def reschedule_slot(
        self,
        account: str,
        slot_id: str,
        new_instant: datetime,
        scheduled_time: str | None = None,
        *,
        expected: Status = Status.PENDING,
    ) -> bool:
        """Move a slot (still ``expected``) to ``new_instant`` on its day, as pending.

        A claim given back this way (``expected=CLAIMED``) also ends its in-flight entry.
        """
        ...

    def rebind_open_slots(
        self, account: str, week_start: date, assignments: Mapping[str, SlotBinding]
    ) -> list[str]:
        """Re-bind the slots of ``assignments`` that are still pending; return those ids."""
        ...

    def get_ledger(self, account: str) -> dict[str, LedgerEntry]:
        """The whole coverage ledger of ``account``."""
        ...

    def put_ledger_entry(self, account: str, profile_key: str, entry: LedgerEntry) -> None:
        """Write one ledger entry."""
        ...
