"""The seed's drop-in ``Scheduler`` (seed sections 4.4 and 5.3) on top of the Redis state.

An engine written for the seed's ``RateLimiter`` keeps its calls: ``check_limits()``, act,
``consume()``, ``mark_outcome(url, outcome)``. Counters live in the guard, plans and the
ledger in the plan store; no local file. Deliberate differences from the seed:

* ``check_limits`` also refuses inside the minimum gap (``"min_gap (42s left)"``): the
  atomic reservation would refuse the action anyway.
* check-then-consume is for ONE caller: two processes can both hear "ok" and overshoot by
  one. Workers never do this; they reserve atomically (``Guard.reserve``).
* ``consume`` can be refused (the seed's cannot): it returns False, logs the window, and
  counts nothing for the refused units. Under a minimum gap the guard cannot count several
  actions at one instant, so ``consume(amount > 1)`` then raises ValueError.
* A ``consume()`` and a ``mark_outcome(url, "done")`` of this object for one action count
  it once, in either order (seed 5.1 calls both). They pair when they come within
  :data:`PAIRING_WINDOW`, shorter than any sane minimum gap: no second action can have
  passed ``check_limits`` in between.
* ``mark_outcome`` returns an :class:`OutcomeReceipt`; an outcome for a profile with no
  open slot today still goes into the coverage ledger, and the receipt says so.
* ``get_todays_queue`` leaves out slots no eligible profile could fill.

Time is the server clock (``ServerClock``); every method also takes an explicit ``now``.
The caller engages the queue itself: do not also run RQ workers for the same account.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import redis

from config.settings import Settings, load_settings
from planner import breaker, outbox
from planner.clock import ensure_aware_utc
from planner.guard import Guard
from planner.ledger import LedgerEntry, record_outcome
from planner.profiles import Profile, profile_key
from planner.service import Live, generate, load_profiles
from planner.sources.base import OutcomeUpdate
from planner.sources.columns import resolve_columns
from planner.sources.errors import SourceError
from planner.sources.validation import validate_records
from planner.weekly_plan import (
    HANDLER_OUTCOMES,
    ScheduledEngagement,
    Status,
    WeeklyPlan,
    validate_account,
    week_monday,
)

log = logging.getLogger(__name__)

PAIRING_WINDOW = timedelta(seconds=60)
"""A consume() and a mark_outcome("done") this close together are one action."""

REPORTABLE = HANDLER_OUTCOMES | {Status.SKIPPED}
"""The outcomes ``mark_outcome`` accepts (the seed's list)."""

_REASON = "reported through Scheduler.mark_outcome"


class SchedulerError(Exception):
    """Raised when the drop-in scheduler cannot do what was asked; the message says why."""


class ProfileDataError(SchedulerError, ValueError):
    """Raised when ``state_data`` holds a bad profile; names the item and the key."""


@dataclass(frozen=True)
class OutcomeReceipt:
    """What ``mark_outcome`` did.

    ``slot_id`` is None when the profile had no open slot today (only the ledger changed);
    ``counted`` tells whether the action is in the caps (only ever for ``done``).
    """

    linkedin_url: str
    outcome: Status
    slot_id: str | None
    counted: bool
    note: str


class Scheduler:
    """Drop-in for the seed's ``RateLimiter``/``Scheduler``, for one account.

    ``check_limits()`` then ``consume()`` is safe for a single caller only; workers on
    several hosts use the atomic reservation (``Guard.reserve``) instead.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        client: redis.Redis | None = None,
        account: str = "default",
        profiles_loader: Callable[[], list[Profile]] | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        validate_account(account)
        if client is None:
            from planner.embedded import connect  # noqa: PLC0415 - starts a server if need be

            client = connect(self.settings)
        self.live = Live.connect(client, self.settings, account)
        self.guard = Guard(client, self.settings, account)
        self._profiles_loader = profiles_loader
        self._rng = rng if rng is not None else np.random.default_rng()
        # Actions counted by one of consume() / mark_outcome("done") and not yet matched
        # by the other: (reservation id, instant).
        self._consumed: deque[tuple[str, datetime]] = deque()
        self._done: deque[tuple[str, datetime]] = deque()

    @property
    def account(self) -> str:
        return self.live.account

    def _now(self, now: datetime | None) -> datetime:
        return ensure_aware_utc(now, what="now") if now is not None else self.live.clock()

    def _monday(self, now: datetime) -> date:
        return week_monday(self.live.today(now))

    # ---- the seed's RateLimiter interface ----------------------------------------------

    def check_limits(self, *, now: datetime | None = None) -> tuple[bool, str]:
        """(True, "ok") or (False, the first window that blocks: hour, day, week, gap)."""
        usage = self.guard.usage(self._now(now))
        for window in ("hourly", "daily", "weekly"):
            used, limit = usage[window]["used"], usage[window]["limit"]
            if used >= limit:
                return False, f"{window}_limit ({used}/{limit})"
        last: datetime | None = usage["last_action_at"]
        if last is not None:
            left = last.timestamp() + usage["min_gap_s"] - usage["at"].timestamp()
            if left > 0:
                return False, f"min_gap ({math.ceil(left)}s left)"
        return True, "ok"

    def consume(self, amount: int = 1, *, now: datetime | None = None) -> bool:
        """Count ``amount`` actions made now in every window; False if the guard refused."""
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
            raise ValueError(f"consume(amount={amount!r}): amount must be a positive integer")
        if amount > 1 and self.guard.limits.min_gap_s > 0:
            raise ValueError(
                f"consume(amount={amount}): simultaneous actions break the minimum gap "
                f"(TIMING_MIN_GAP_MINUTES={self.settings.TIMING_MIN_GAP_MINUTES:g}); "
                "call consume() once per action"
            )
        at = self._now(now)
        if amount == 1 and _take(self._done, at):
            return True  # mark_outcome("done") already counted this action
        for unit in range(amount):
            reservation = f"manual-{uuid.uuid4().hex}"
            decision = self.guard.reserve(reservation, at)
            if not decision.allowed:
                why = f"the {decision.blocked_by} window refused the rest"
                log.warning("%s: consume counted %d of %d; %s", self.account, unit, amount, why)
                return False
            if amount == 1:
                self._consumed.append((reservation, at))
        return True

    def status(self, *, now: datetime | None = None) -> dict[str, Any]:
        """The seed's keys (daily, weekly, hourly, plan_exists, plan_week) and more."""
        at = self._now(now)
        usage = self.guard.usage(at)
        plan = self.live.store.load_week(self.account, self._monday(at))
        last: datetime | None = usage["last_action_at"]
        out: dict[str, Any] = {
            "daily": dict(usage["daily"]),
            "weekly": dict(usage["weekly"]),
            "hourly": dict(usage["hourly"]),
            "plan_exists": plan is not None,
            "plan_week": plan.week_number if plan is not None else None,
            "account": self.account,
            "now": at.isoformat(),
            "plan_label": plan.label if plan is not None else None,
            "min_gap_s": usage["min_gap_s"],
            "last_action_at": last.isoformat() if last is not None else None,
            "today": None,
            "next_slot": None,
        }
        today = plan.get_today(at) if plan is not None else None
        if today is not None:
            pending = sum(e.is_open for e in today.engagements)
            out["today"] = {
                "budget": today.budget,
                "pending": pending,
                "completed": today.completed,
            }
        upcoming = [s for s in plan.slots() if s.is_open and s.scheduled_at >= at] if plan else []
        if upcoming:
            n = min(upcoming, key=lambda s: s.scheduled_at)
            out["next_slot"] = {"slot_id": n.slot_id, "at": n.scheduled_at.isoformat()}
            out["next_slot"] |= {"linkedin_url": n.linkedin_url, "name": n.name}
        return out

    # ---- the seed's new scheduling methods ---------------------------------------------

    def current_plan(self, *, now: datetime | None = None) -> WeeklyPlan | None:
        """This week's stored plan, or None (the seed's ``self.plan``)."""
        return self.live.store.load_week(self.account, self._monday(self._now(now)))

    def generate_weekly_plan(
        self,
        state_data: Sequence[Mapping[str, Any]],
        *,
        force: bool = False,
        now: datetime | None = None,
    ) -> WeeklyPlan:
        """Plan and store this week from seed-style profile dicts, with one job per slot.

        A stored week is returned unchanged unless ``force`` (then the slots that already
        ran are kept and the rest is planned anew), like ``generate-week``.
        """
        at = self._now(now)
        profiles = profiles_from_dicts(state_data, at)
        return generate(self.live, profiles, now=at, rng=self._rng, force=force).plan

    def get_todays_queue(self, *, now: datetime | None = None) -> list[ScheduledEngagement]:
        """Today's pending engagements by time; plans the week first if it has no plan.

        Profiles for a new week come from ``profiles_loader``, else from the snapshot the
        last plan of this account was made from.
        """
        at = self._now(now)
        plan = self.live.store.load_week(self.account, self._monday(at))
        if plan is None:
            profiles = self._profiles_loader() if self._profiles_loader else []
            profiles = profiles or load_profiles(self.live)
            if not profiles:
                raise SchedulerError(
                    f"account {self.account!r}: no plan this week and no profiles to make one "
                    "(pass profiles_loader= or call generate_weekly_plan)"
                )
            plan = generate(self.live, profiles, now=at, rng=self._rng).plan
        today = plan.get_today(at)
        pending = [e for e in (today.engagements if today else []) if e.is_open and e.linkedin_url]
        return sorted(pending, key=lambda e: e.scheduled_at)

    def mark_outcome(
        self, linkedin_url: str, outcome: str | Status, *, now: datetime | None = None
    ) -> OutcomeReceipt:
        """Record what happened to ``linkedin_url`` now (seed semantics).

        ``done`` resets the profile's coverage clock and counts against the caps;
        ``already_reacted``, ``no_posts`` and ``failed`` do neither, but the slot counts as
        attempted; ``skipped`` only closes the slot. The slot is today's first open slot of
        that profile by time (else one claimed); with none, only the ledger changes.
        """
        status = _reportable(outcome)
        at = self._now(now)
        key = profile_key(linkedin_url)
        entry = record_outcome(
            self.live.store.get_ledger(self.account).get(key), status, at, self.settings
        )
        slot_id = self._finish_today(key, status, at, entry)
        if slot_id is None and status in HANDLER_OUTCOMES:
            self.live.store.put_ledger_entry(self.account, key, entry)
        counted, note = False, "not counted in the caps (no action was taken)"
        if status is Status.DONE:
            counted, note = self._count_done(slot_id, at)
        elif slot_id is not None:
            self.guard.release(slot_id)  # a reservation made for this slot, if any
        if status in HANDLER_OUTCOMES:
            today = self.live.today(at)
            breaker.record(
                self.live.client, self.account, status, today, self.settings.BREAKER_THRESHOLD
            )
            engaged = at if status is Status.DONE else None
            outbox.push(
                self.live.client, self.account, OutcomeUpdate(key, engaged, status.value, at)
            )
        if slot_id is None:
            kept = "recorded in the ledger only" if status in HANDLER_OUTCOMES else "nothing kept"
            note = f"no open slot today for {key}; {kept}; {note}"
            log.info("account %s: %s: %s", self.account, status.value, note)
        return OutcomeReceipt(linkedin_url, status, slot_id, counted, note)

    # ---- internals ---------------------------------------------------------------------

    def _finish_today(
        self, key: str, status: Status, at: datetime, entry: LedgerEntry
    ) -> str | None:
        """Close today's slot of profile ``key`` with ``status``; its id, or None."""
        for _ in range(3):  # a worker may claim the chosen slot under us: look again
            slot = self._open_slot_today(key, at)
            if slot is None:
                return None
            if slot.status is Status.PENDING and not self.live.store.claim_slot(
                self.account, slot.slot_id, at
            ):
                continue
            attempted = status in HANDLER_OUTCOMES
            self.live.store.finish_slot(
                self.account,
                slot.slot_id,
                status,
                at,
                reason=_REASON,
                ledger_key=key if attempted else None,
                ledger_entry=entry if attempted else None,
            )
            return slot.slot_id
        return None

    def _open_slot_today(self, key: str, at: datetime) -> ScheduledEngagement | None:
        slots = self.live.store.slots_of_day(self.account, self.live.today(at))
        mine = [s for s in slots if s.linkedin_url and profile_key(s.linkedin_url) == key]
        for wanted in (Status.PENDING, Status.CLAIMED):
            found = [s for s in mine if s.status is wanted]
            if found:
                return min(found, key=lambda s: s.scheduled_at)
        return None

    def _count_done(self, slot_id: str | None, at: datetime) -> tuple[bool, str]:
        if _take(self._consumed, at):
            return True, "counted in the caps by the consume() of the same action"
        reservation = slot_id or f"manual-{uuid.uuid4().hex}"
        decision = self.guard.reserve(reservation, at)
        if decision.already_reserved:
            return True, "counted in the caps by the reservation made for this slot"
        if not decision.allowed:
            note = f"NOT counted in the caps: the {decision.blocked_by} window refused"
            log.warning("%s: a done action was %s (check_limits first)", self.account, note)
            return False, note
        self._done.append((reservation, at))
        return True, "counted in the caps"


def _take(pending: deque[tuple[str, datetime]], at: datetime) -> bool:
    """Pop the oldest entry within PAIRING_WINDOW of ``at``; drop older ones."""
    while pending and abs(at - pending[0][1]) > PAIRING_WINDOW:
        pending.popleft()
    if pending:
        pending.popleft()
        return True
    return False


def _reportable(outcome: str | Status) -> Status:
    for status in REPORTABLE:
        if outcome == status.value:
            return status
    allowed = ", ".join(sorted(s.value for s in REPORTABLE))
    raise ValueError(f"mark_outcome: outcome {outcome!r} is not one of {allowed}")


def profiles_from_dicts(state_data: Sequence[Mapping[str, Any]], now: datetime) -> list[Profile]:
    """Profiles from seed-style dicts (the CSV rules of :mod:`planner.sources.validation`).

    Keys are matched like CSV headers (``linkedin_url``, ``name``, ``last_like_date`` or
    ``days_since_last_like``, ``active``). Any bad item refuses the whole list.
    """
    headers: list[str] = []
    for i, item in enumerate(state_data):
        if not isinstance(item, Mapping):
            raise ProfileDataError(f"state_data[{i}] is a {type(item).__name__}, not a dict")
        headers += [str(k) for k in item if str(k) not in headers]
    try:
        columns = resolve_columns(headers)
        records = [(i, [_cell(item.get(h)) for h in headers]) for i, item in enumerate(state_data)]
        result = validate_records(records, columns, now, source="state_data", strict=True)
    except SourceError as exc:
        details = "; ".join(
            f"state_data[{p.row}].{p.column}={p.value!r}: {p.reason}" for p in exc.problems[:10]
        )
        raise ProfileDataError(f"{exc}{': ' + details if details else ''}") from exc
    return result.profiles


def _cell(value: Any) -> str:
    """A dict value as the text cell the source validators read."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(value)


RateLimiter = Scheduler
"""The seed's backward-compatible name (seed section 5.3)."""
