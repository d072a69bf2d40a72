"""Week assembly and the daily ``revise``: budgets and times fixed weekly, profiles bound late.

``build_week`` samples the budgets and slot times of the remaining days of a week and fills
every slot with a tentative profile. ``revise`` re-fills the slots that have not run yet
from the live coverage ledger; executed slots never change. Both are pure: plain data in,
plain data out, an injected ``numpy.random.Generator`` and ``now``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel

from config.settings import Settings
from planner.assignment import (
    NEVER_US,
    Coverage,
    DayAssignment,
    LocalCalendar,
    OpenDay,
    assign_days,
    to_us,
)
from planner.budgets import sample_daily_budgets
from planner.clock import ensure_aware_utc
from planner.feasibility import FeasibilityReport, check_feasibility_sorted
from planner.ledger import LedgerView
from planner.profiles import Profile, profile_key
from planner.scoring import Pick
from planner.timing import capacity, day_window, sample_day_times
from planner.weekly_plan import (
    DailySlot,
    ScheduledEngagement,
    Status,
    WeeklyPlan,
    slot_id_for,
    validate_account,
    week_monday,
)

REBOUND_FIELDS = ("linkedin_url", "name", "priority_score", "days_since_last_like", "forced")
"""What ``revise`` may change in an open slot; its time and identity stay."""
_REBOUND = frozenset(REBOUND_FIELDS)

# Planning compares thousands of statuses per pass; reading a member off the enum class
# costs several times a module global.
_PENDING, _CLAIMED = Status.PENDING, Status.CLAIMED

# A slot needs a moment to be enqueued and picked up; never plan one closer to now.
PLANNING_LEAD = timedelta(minutes=2)


@dataclass
class PlanReport:
    """What planning found out besides the plan: numbers a person should see."""

    feasibility: FeasibilityReport | None = None
    forced: int = 0
    shortfall: int = 0  # picks that had to happen to meet a deadline but did not fit
    budget_shortfall: int = 0  # budget that could not be placed within the caps
    unfilled_slots: int = 0  # slots with no eligible profile
    unreachable: list[str] = field(default_factory=list)  # keys in cooldown
    rebound: int = 0  # revise: open slots whose profile changed


def planning_days(week_start: date, now: datetime, settings: Settings) -> list[date]:
    """The days of the week still worth planning: today only if its window is not over."""
    today = now.astimezone(settings.tz).date()
    days = [week_start + timedelta(days=i) for i in range(7)]
    return [
        d
        for d in days
        if d > today or (d == today and capacity(d, settings, not_before=now + PLANNING_LEAD) > 0)
    ]


def remaining_target(n_days: int, used_this_week: int, settings: Settings) -> int:
    """Pro-rated share of the weekly target for ``n_days``, never past what the week has left."""
    prorated = round(settings.WEEKLY_BUDGET_TARGET * n_days / 7)
    return max(0, min(prorated, settings.WEEKLY_BUDGET_TARGET - used_this_week))


def build_week(
    *,
    account: str,
    profiles: Sequence[Profile],
    ledger: Mapping[str, LedgerView],
    now: datetime,
    settings: Settings,
    rng: np.random.Generator,
    week_start: date | None = None,
    used_this_week: int = 0,
    through: date | None = None,
) -> tuple[WeeklyPlan, PlanReport]:
    """Plan the rest of the week containing ``now`` (or the week of ``week_start``).

    With ``through``, only the slots of the days up to it get a tentative profile; the
    later ones stay empty until ``revise`` binds them (the coverage simulation, which
    revises every morning anyway, skips the work that revise would redo).
    """
    now = ensure_aware_utc(now, what="now")
    monday = week_start or week_monday(now.astimezone(settings.tz).date())
    days = planning_days(monday, now, settings)
    report = PlanReport()
    not_before = now + PLANNING_LEAD
    caps = [capacity(d, settings, not_before=not_before) for d in days]
    target = remaining_target(len(days), used_this_week, settings)
    draw = sample_daily_budgets(rng, len(days), target, settings, day_caps=caps)
    report.budget_shortfall = draw.shortfall
    instants = [
        sample_day_times(rng, budget, d, settings, not_before=not_before)
        for d, budget in zip(days, draw.budgets, strict=True)
    ]
    open_days = [
        OpenDay(d, times, _day_start(d, settings, not_before))
        for d, times in zip(days, instants, strict=True)
    ]
    coverage = Coverage.from_ledger(profiles, ledger, settings.tz)
    report.feasibility = _feasibility(coverage, days, draw.budgets, now, settings)
    fill = None if through is None else sum(d <= through for d in days)
    assignments = assign_days(open_days, coverage, settings=settings, rng=rng, fill=fill)
    unbound = [
        DayAssignment(d.day, [None] * len(d.instants)) for d in open_days[len(assignments) :]
    ]
    plan_days: dict[str, DailySlot] = {}
    for i, (open_day, assigned) in enumerate(zip(open_days, assignments + unbound, strict=True)):
        # DailySlot(...) and WeeklyPlan(...) without validation (see _assemble): the days
        # are this week's, keyed by their ISO dates, each with as many slots as its budget.
        plan_days[open_day.day.isoformat()] = _construct(
            DailySlot,
            {
                "date": open_day.day,
                "budget": draw.budgets[i],
                "engagements": _engagements(account, open_day, assigned.picks, coverage),
                "is_burst_day": draw.burst[i],
                "is_light_day": draw.light[i],
            },
        )
    _tally(report, assignments, coverage, now)
    plan = _construct(
        WeeklyPlan,
        {
            "account": validate_account(account),
            "timezone": settings.TIMEZONE,
            "week_start": monday,
            "week_number": monday.isocalendar()[1],
            "created_at": now,  # aware UTC
            "days": plan_days,
        },
    )
    return plan, report


def revise(
    plan: WeeklyPlan,
    *,
    profiles: Sequence[Profile],
    ledger: Mapping[str, LedgerView],
    now: datetime,
    settings: Settings,
    rng: np.random.Generator,
    through: date | None = None,
) -> tuple[WeeklyPlan, PlanReport]:
    """Re-bind the open (pending) slots of today..Sunday from the live ledger.

    Executed or in-flight slots are never touched; a profile attempted or in flight today
    is not picked again today. With ``through``, only the days up to it are re-bound (later
    open slots keep their tentative profiles but still count as slots to come): for a
    caller that revises again before any of them runs, such as the coverage simulation.
    """
    now = ensure_aware_utc(now, what="now")
    today = now.astimezone(settings.tz).date()
    report = PlanReport()
    coverage = Coverage.from_ledger(profiles, ledger, settings.tz)
    open_keys: list[str] = []
    open_at: list[list[int]] = []  # per open day, the positions of its pending slots
    found: list[tuple[date, list[datetime], datetime]] = []  # per open day
    executed: list[ScheduledEngagement] = []
    plan_days = plan.days
    earliest_today, _, _ = _around(today, coverage.calendar)
    for key in sorted(plan_days):
        day = plan_days[key]
        engagements = day.engagements
        on = day.date
        if on < today:
            # Its pending slots are past; of what ran, only what is in flight or ran today
            # matters (_busy_today), and an instant before today's earliest is not today's.
            executed += [
                e
                for e in engagements
                if (v := e.__dict__)["status"] is _CLAIMED
                or (v["status"] is not _PENDING and v["scheduled_at"] >= earliest_today)
            ]
            continue
        at = [i for i, e in enumerate(engagements) if e.status is _PENDING]
        if len(at) < len(engagements):
            executed += [e for e in engagements if e.status is not _PENDING]
        open_keys.append(key)
        open_at.append(at)
        instants = [engagements[i].scheduled_at for i in at]
        found.append((on, instants, _day_start(on, settings, now)))
    busy_today = _busy_today(executed, today, coverage)
    open_days = [
        OpenDay(on, instants, start, busy_today if on == today else _NOBODY)
        for on, instants, start in found
    ]
    fill = None if through is None else sum(d.day <= through for d in open_days)
    assignments = assign_days(open_days, coverage, settings=settings, rng=rng, fill=fill)
    days = dict(plan_days)
    profiles_by_key = coverage.profiles
    for key, at, assigned in zip(open_keys, open_at, assignments, strict=False):
        if not at:
            continue
        # Shallow copies: untouched slots, and days without a re-bound slot, are shared
        # with the old plan, which nobody mutates.
        day = days[key]
        engagements = list(day.engagements)
        for i, pick in zip(at, assigned.picks, strict=True):
            # model_copy(update=...) without its generic work (see _assemble); the copy
            # keeps the field order, only the re-bound values change.
            slot = engagements[i]
            old = slot.__dict__
            values = old.copy()
            if pick is None:
                values.update(_UNBOUND)
            else:
                _bind(values, pick, profiles_by_key)
            if values["linkedin_url"] != old["linkedin_url"] or values["forced"] != old["forced"]:
                report.rebound += 1
            engagements[i] = _assemble(values, slot.__pydantic_fields_set__ | _REBOUND)
        days[key] = _copy(day, {"engagements": engagements})
    revised = _copy(plan, {"revision": plan.revision + 1, "days": days})
    _tally(report, assignments, coverage, now)
    return revised, report


def _busy_today(
    executed: Sequence[ScheduledEngagement], today: date, coverage: Coverage
) -> frozenset[str]:
    """Who was attempted or is in flight today (not again today); projects the in-flight.

    In-flight (claimed) actions count as engaged for the projection, in plan order.
    """
    calendar = coverage.calendar
    lo, hi, exact = _around(today, calendar)
    today_ordinal = today.toordinal()
    busy: set[str] = set()
    for e in executed:
        values = e.__dict__  # one attribute read for the three fields (a model's are slow)
        url = values["linkedin_url"]
        if not url:
            continue
        at = values["scheduled_at"]
        on_today = lo <= at < hi and (exact or calendar.ordinal(to_us(at)) == today_ordinal)
        claimed = values["status"] is _CLAIMED
        if on_today or claimed:
            profile = profile_key(url)
            if on_today:
                busy.add(profile)
            if claimed and profile in coverage.position:
                coverage.project(profile, at)
    return frozenset(busy)


def _around(today: date, calendar: LocalCalendar) -> tuple[datetime, datetime, bool]:
    """UTC instants [lo, hi) that hold local date ``today``, and whether exactly that."""
    midnight = datetime.combine(today, time(), tzinfo=UTC)
    if calendar.is_utc:  # today is exactly [midnight, the next midnight)
        return midnight, midnight + _DAY, True
    # A UTC offset is less than a day, so an instant more than a day from today's UTC
    # date is not on local date ``today``: only the others need their exact local date.
    return midnight - _DAY, midnight + 2 * _DAY, False


_DAY = timedelta(days=1)
_NOBODY: frozenset[str] = frozenset()


def _day_start(day: date, settings: Settings, not_before: datetime) -> datetime:
    start, _ = day_window(day, settings)
    return max(start, not_before)


def _bind(values: dict[str, Any], pick: Pick, profiles: Mapping[str, Profile]) -> None:
    """Set a slot's REBOUND_FIELDS in ``values`` to ``pick``'s profile."""
    key, score, days_since, forced = pick
    profile = profiles[key]
    values["linkedin_url"] = profile.linkedin_url
    values["name"] = profile.name
    values["priority_score"] = rounded(score, 3)
    values["days_since_last_like"] = rounded(days_since, 2)
    values["forced"] = forced


def rounded(value: float, digits: int) -> float:
    """``round(value, digits)``, exactly, for ``digits`` in 0..9.

    round() is correctly rounded by way of the decimal digits, a third of the cost of
    binding a slot. The scaled value is the exact product rounded to a double; rounding is
    monotonic and every m + 1/2 below 2 ** 52 is a double, so the scaled value lies on the
    same side of each half as the exact product: off a half, the nearest integer is the
    one round() takes, and that integer over the scale is the double nearest the decimal.
    At a half, at zero (its sign) and out of range, round() decides.
    """
    scale = _SCALES[digits]
    scaled = value * scale
    if 0.0 < scaled < 4_503_599_627_370_496.0:  # 2 ** 52
        whole = int(scaled)
        rest = scaled - whole  # exact
        if rest < 0.5:
            return whole / scale
        if rest > 0.5:
            return (whole + 1) / scale
    return round(value, digits)


_SCALES = tuple(10.0**d for d in range(10))


_UNBOUND: dict[str, Any] = dict(zip(REBOUND_FIELDS, ("", "", 0.0, 0.0, False), strict=True))
"""The REBOUND_FIELDS values of a slot without a profile."""


def _engagements(
    account: str, open_day: OpenDay, picks: Sequence[Pick | None], coverage: Coverage
) -> list[ScheduledEngagement]:
    """The new pending slots of ``open_day`` (its instants are aware UTC, from timing)."""
    stem = _slot_stem(account, open_day.day)
    instants = open_day.instants
    profiles = coverage.profiles
    out: list[ScheduledEngagement] = []
    for index, (instant, hhmm, pick) in enumerate(
        zip(instants, coverage.calendar.hhmm_list(instants), picks, strict=True)
    ):
        values = _NEW_SLOT.copy()
        values["slot_id"] = stem + _INDEX[index] if index < _INDEXED else f"{stem}{index:03d}"
        values["index"] = index
        values["scheduled_time"] = hhmm
        values["scheduled_at"] = instant
        if pick is not None:
            _bind(values, pick, profiles)
        out.append(_assemble(values, set(_GIVEN_FIELDS)))
    return out


@lru_cache(maxsize=256)
def _slot_stem(account: str, day: date) -> str:
    """A slot id of ``day`` without its index (``slot_id_for`` validates the account and
    fixes the id's form; formatting the date costs more than building the slots' dicts)."""
    return slot_id_for(account, day, 0).removesuffix("000")


_DEFAULTS: dict[str, Any] = {
    **_UNBOUND,
    "slot_id": "",
    "index": 0,
    "scheduled_time": "",
    "scheduled_at": None,
    "status": _PENDING,
    "attempts": 0,
    "claimed_at": None,
    "finished_at": None,
    "reason": "",
}
_NEW_SLOT = {name: _DEFAULTS[name] for name in ScheduledEngagement.model_fields}
"""A new slot's values before its own are set, in field order (as validation stores
them: repr and dumps follow it)."""
_INDEXED = 1000
_INDEX = tuple(f"{i:03d}" for i in range(_INDEXED))
"""A slot id's last part, by index (what ``slot_id_for`` formats)."""
_GIVEN_FIELDS = frozenset(("slot_id", "index", "scheduled_time", "scheduled_at", *REBOUND_FIELDS))
"""The fields a new slot is given explicitly (the rest keep their defaults)."""


# Planning builds and re-binds thousands of slots per second in the simulation; pydantic's
# validation (and even model_construct / model_copy, which are slower still) is most of
# that cost, and every value here is already valid by construction: ids from slot_id_for,
# HH:MM from the zone's offset, aware UTC instants, plain floats and bools. So slots are
# assembled the way pydantic's own model_construct does it, minus its generic bookkeeping;
# tests/test_fast_paths.py checks the result equals a validated model, field for field.
def _assemble(values: dict[str, Any], fields_set: set[str]) -> ScheduledEngagement:
    """A slot from every one of its field values (in field order), without validation."""
    slot = _new_slot(ScheduledEngagement)
    _set(slot, "__dict__", values)
    _set(slot, "__pydantic_fields_set__", fields_set)
    _set(slot, "__pydantic_extra__", None)  # extra="forbid": never any
    _set(slot, "__pydantic_private__", None)  # no private attributes
    return slot


_new_slot = ScheduledEngagement.__new__
_set = object.__setattr__


_Copied = TypeVar("_Copied", DailySlot, WeeklyPlan)


def _copy(model: _Copied, update: dict[str, Any]) -> _Copied:
    """``model.model_copy(update=update)``, minus its generic work (see _assemble).

    A shallow copy: the values are shared, the updated ones replaced, and the updated
    fields count as set, exactly as model_copy has it (these models have neither extra
    fields nor private attributes).
    """
    values = model.__dict__.copy()
    values.update(update)
    copied = _new_model(type(model))
    _set(copied, "__dict__", values)
    fields_set = model.__pydantic_fields_set__.copy()
    fields_set.update(update)
    _set(copied, "__pydantic_fields_set__", fields_set)
    _set(copied, "__pydantic_extra__", None)
    _set(copied, "__pydantic_private__", None)
    return copied


_new_model = BaseModel.__new__


def _construct(cls: type[_Copied], given: dict[str, Any]) -> _Copied:
    """``cls(**given)`` for valid values, without validation: the given values in field
    order, the other fields at their defaults, as validation stores them."""
    values = {
        name: given[name] if name in given else info.get_default(call_default_factory=True)
        for name, info in cls.model_fields.items()
    }
    model = _new_model(cls)
    _set(model, "__dict__", values)
    _set(model, "__pydantic_fields_set__", set(given))
    _set(model, "__pydantic_extra__", None)
    _set(model, "__pydantic_private__", None)
    return model


def _tally(
    report: PlanReport, assignments: Sequence[DayAssignment], coverage: Coverage, now: datetime
) -> None:
    report.forced = sum(a.forced for a in assignments)
    report.shortfall = sum(a.shortfall for a in assignments)
    report.unfilled_slots = sum(a.picks.count(None) for a in assignments)
    (cooling,) = coverage.in_cooldown(now).nonzero()  # flatnonzero, minus its wrapping
    report.unreachable = [coverage.keys[i] for i in cooling.tolist()]  # keys are sorted


def _feasibility(
    coverage: Coverage,
    days: Sequence[date],
    budgets: Sequence[int],
    now: datetime,
    settings: Settings,
) -> FeasibilityReport | None:
    if not days:
        return None
    reachable = coverage.active & ~coverage.in_cooldown(now)
    deadlines = np.where(
        coverage.done_us == NEVER_US,
        days[0].toordinal(),
        coverage.done_day + settings.COVERAGE_GUARANTEE_DAYS,
    )[reachable]
    # Date ordinals, sorted: what the check works on, without a date object per profile.
    due = np.sort(deadlines).tolist()
    return check_feasibility_sorted(due, days[0], list(budgets), settings)
