"""Feasibility: deadlines against slots day by day (Jackson) and over any 14 days."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from config.settings import Settings
from planner.feasibility import check_feasibility

START = date(2026, 2, 9)
WEEK = [12, 11, 11, 12, 11, 12, 11]  # 80


def due(*offsets: int) -> list[date]:
    return [START + timedelta(days=o) for o in offsets]


def test_default_case_is_feasible(settings: Settings) -> None:
    """100 profiles spread over the next 14 days fit 80 slots a week."""
    deadlines = due(*(1 + i % 14 for i in range(100)))
    report = check_feasibility(deadlines, START, WEEK, settings)
    assert report.feasible
    assert report.shortfall == 0
    assert report.first_short_day is None
    assert (report.profiles, report.horizon_days, report.slots) == (100, 7, 80)
    assert report.message.startswith("feasible")
    assert "160 slots for 100 profiles" in report.message


def test_200_profiles_at_80_a_week_are_infeasible(settings: Settings) -> None:
    """200 profiles need 200 successes per 14 days; 80 a week gives 160, short by 40."""
    deadlines = due(*([30] * 200))  # nobody due soon: only the steady-state check fails
    report = check_feasibility(deadlines, START, WEEK, settings)
    assert not report.feasible
    assert report.shortfall == 40
    assert report.first_short_day is None
    assert (
        "200 profiles need 200 successful actions every 14 days; the budget gives 160 "
        "(short by 40)" in report.message
    )


def test_200_profiles_spread_name_the_first_short_day(settings: Settings) -> None:
    """Spread deadlines run short within the week; the report names the day and the numbers."""
    deadlines = due(*(i % 14 for i in range(200)))
    report = check_feasibility(deadlines, START, WEEK, settings)
    assert not report.feasible
    assert report.first_short_day == START
    assert report.shortfall == 40
    assert "profiles are due by" in report.message
    assert "short by 40" in report.message


@pytest.mark.parametrize(
    ("offsets", "slots", "expected"),
    [
        # expected: (shortfall, first short day offset or None)
        ([], WEEK, (0, None)),
        ([-2] * 15, [10, *WEEK[1:]], (5, 0)),  # overdue: only today's slots count for day 0
        ([0] * 12, [12], (0, None)),
        ([1] * 30, [10, 10, 10], (10, 1)),  # 30 due by day 1, 20 slots until then
        ([2] * 30, [10, 10, 10], (0, None)),
        ([0] * 3 + [1] * 20, [5, 5], (13, 1)),
        ([5] * 50, [10, 10], (0, None)),  # beyond the horizon: not judged day by day
    ],
)
def test_jackson_table(
    settings: Settings, offsets: list[int], slots: list[int], expected: tuple[int, int | None]
) -> None:
    """Profiles due by each day never exceed the slots up to that day, or the excess is reported."""
    shortfall, first = expected
    report = check_feasibility(due(*offsets), START, slots, settings)
    assert report.shortfall == shortfall
    assert report.feasible == (shortfall == 0)
    assert report.first_short_day == (None if first is None else START + timedelta(days=first))


def test_long_horizon_uses_the_leanest_window(settings: Settings) -> None:
    """With 21 days of slots, a 14-day window with an empty week holds only 84 slots."""
    slots = [12] * 7 + [0] * 7 + [12] * 7
    report = check_feasibility(due(*([40] * 100)), START, slots, settings)
    assert report.shortfall == 16
    assert "the budget gives 84 (short by 16)" in report.message


def test_no_profiles_is_feasible(settings: Settings) -> None:
    """Nothing to cover is always feasible."""
    assert check_feasibility([], START, [], settings).feasible


def test_negative_slots_raise(settings: Settings) -> None:
    """A negative slot count is refused with ValueError."""
    with pytest.raises(ValueError, match="daily_slots"):
        check_feasibility(due(1), START, [3, -1], settings)


@hyp_settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(-3, 12), max_size=40),
    st.lists(st.integers(0, 6), max_size=9),
)
def test_day_by_day_condition_follows_its_definition(offsets: list[int], slots: list[int]) -> None:
    """The sorted-ordinal walk finds the days a direct count over every day finds."""
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    deadlines = due(*offsets)
    days = [START + timedelta(days=i) for i in range(len(slots))]
    excess = [sum(d <= day for d in deadlines) - sum(slots[: i + 1]) for i, day in enumerate(days)]
    short = [day for day, e in zip(days, excess, strict=True) if e > 0]
    worst = max(excess, default=0)
    report = check_feasibility(deadlines, START, slots, settings)
    assert report.first_short_day == (short[0] if short else None)
    assert report.shortfall >= max(worst, 0)
    if worst > 0:
        worst_day = days[excess.index(worst)]
        assert f"are due by {worst_day.isoformat()}" in report.message
        assert f"(short by {worst})" in report.message
