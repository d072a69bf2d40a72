"""Can every profile be engaged by its deadline? Checked before planning, answered in numbers.

Two necessary conditions (DESIGN.md, "Algorithms"):

* day by day (Jackson's rule): the profiles due by day ``d`` must not exceed the slots from
  ``start`` up to and including ``d``. When it holds, earliest-deadline-first meets every
  deadline within the horizon.
* steady state: any COVERAGE_GUARANTEE_DAYS consecutive days must hold at least one
  successful action per reachable profile. With a horizon of at least that many days the
  leanest window of ``daily_slots`` is used; a shorter horizon (the rest of a week) says
  nothing about the long run, so the weekly target pro rata stands in
  (``WEEKLY_BUDGET_TARGET * days // 7``).

Slots count as successful actions here; failed attempts only make things worse, so an
infeasible answer is certain and a feasible one is an upper bound.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import accumulate

from config.settings import Settings


@dataclass(frozen=True)
class FeasibilityReport:
    feasible: bool
    profiles: int
    horizon_days: int
    slots: int  # all slots in the horizon
    shortfall: int  # the larger of the two conditions' shortfalls; 0 when feasible
    first_short_day: date | None  # first day on which more profiles are due than slots exist
    message: str


def check_feasibility(
    deadlines: Sequence[date], start: date, daily_slots: Sequence[int], settings: Settings
) -> FeasibilityReport:
    """Check ``deadlines`` (one per reachable profile) against ``daily_slots`` from ``start``."""
    return check_feasibility_sorted(
        sorted(d.toordinal() for d in deadlines), start, daily_slots, settings
    )


def check_feasibility_sorted(
    due: Sequence[int], start: date, daily_slots: Sequence[int], settings: Settings
) -> FeasibilityReport:
    """``check_feasibility`` of deadlines given as sorted date ordinals (``toordinal()``).

    Planning has the deadlines as ordinals already; a date object per profile would cost
    more than the check itself.
    """
    if any(s < 0 for s in daily_slots):
        raise ValueError(f"daily_slots must be >= 0, got {list(daily_slots)}")
    profiles = len(due)
    horizon = len(daily_slots)
    total = sum(daily_slots)
    problems: list[str] = []

    first_short, worst_day, worst = _jackson(due, start, daily_slots)
    if worst_day is not None and first_short is not None:
        due_by = bisect_right(due, worst_day.toordinal())
        days = (worst_day - start).days + 1
        have = due_by - worst
        text = (
            f"{due_by} profiles are due by {worst_day.isoformat()} but the {days} day(s) from "
            f"{start.isoformat()} give {have} slots (short by {worst})"
        )
        if first_short != worst_day:
            text += f"; the first day short is {first_short.isoformat()}"
        problems.append(text)

    guarantee = settings.COVERAGE_GUARANTEE_DAYS
    window = _window_slots(daily_slots, guarantee, settings)
    steady = max(0, profiles - window)
    if steady:
        problems.append(
            f"{profiles} profiles need {profiles} successful actions every {guarantee} days; "
            f"the budget gives {window} (short by {steady})"
        )

    shortfall = max(worst, steady)
    if problems:
        message = "infeasible: " + "; ".join(problems)
    else:
        message = (
            f"feasible: {profiles} profiles, {total} slots in {horizon} day(s); "
            f"every {guarantee} days give {window} slots for {profiles} profiles"
        )
    return FeasibilityReport(
        feasible=shortfall == 0,
        profiles=profiles,
        horizon_days=horizon,
        slots=total,
        shortfall=shortfall,
        first_short_day=first_short,
        message=message,
    )


def _jackson(
    due: Sequence[int], start: date, daily_slots: Sequence[int]
) -> tuple[date | None, date | None, int]:
    """(first day short, the worst day, its shortfall) of the day-by-day condition.

    ``due`` holds the deadlines as sorted date ordinals.
    """
    origin = start.toordinal()
    first: int | None = None
    worst_offset = 0
    worst = 0
    for offset, have in enumerate(accumulate(daily_slots)):
        excess = bisect_right(due, origin + offset) - have  # due by that day, minus slots
        if excess > 0 and first is None:
            first = offset
        if excess > worst:
            worst_offset, worst = offset, excess
    if first is None:  # no day short, so none the worst either
        return None, None, 0
    return start + timedelta(days=first), start + timedelta(days=worst_offset), worst


def _window_slots(daily_slots: Sequence[int], days: int, settings: Settings) -> int:
    """Slots in the leanest ``days`` consecutive days (pro rata target for short horizons)."""
    if len(daily_slots) < days:
        return settings.WEEKLY_BUDGET_TARGET * days // 7
    sums = [sum(daily_slots[i : i + days]) for i in range(len(daily_slots) - days + 1)]
    return min(sums)
