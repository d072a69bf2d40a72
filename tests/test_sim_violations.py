"""The simulation's invariant checker (``violations``) counts every kind of breach it knows.

Hand-built traces with breaches planted at known places (and actions just inside each
limit), so a checker that misses or over-counts one kind fails here rather than silently
reporting zero for the late-binding policy.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from config.settings import Settings
from planner.weekly_plan import Status
from tests.simulation import Action, SimParams, Trace
from tests.test_scheduler_sim import sim_settings, violations

MONDAY = datetime(2026, 1, 5, tzinfo=UTC)  # ISO week 2 of 2026
GOOD_WEEK = [12, 11, 12, 11, 12, 11, 11]  # sums to the target (80), each day in bounds


def at(day: int, clock: str) -> datetime:
    """``clock`` (HH:MM, UTC) on day ``day`` from MONDAY."""
    hours, minutes = map(int, clock.split(":"))
    return MONDAY + timedelta(days=day, hours=hours, minutes=minutes)


def spaced(day: int, count: int, start: str = "09:00", minutes: int = 20) -> list[datetime]:
    """``count`` actions on ``day`` from ``start``, ``minutes`` apart (20: within every cap)."""
    first = at(day, start)
    return [first + timedelta(minutes=minutes * n) for n in range(count)]


def trace_of(
    instants: list[datetime],
    budgets: list[list[int]] | None = None,
    attempts: dict[tuple[int, str], Status] | None = None,
) -> Trace:
    """A trace of the given actions (in a shuffled order: the checker must sort them)."""
    order = np.random.default_rng(0).permutation(len(instants)).tolist()
    actions = [Action((instants[n] - MONDAY).days, instants[n], f"k{n}", False) for n in order]
    return Trace(
        last_done=np.zeros(0, dtype=np.int64),
        actions=actions,
        attempts=attempts or {},
        budgets=budgets if budgets is not None else [GOOD_WEEK],
    )


def test_a_clean_trace_has_no_breach() -> None:
    instants = spaced(0, 20) + spaced(1, 20) + spaced(2, 20) + spaced(3, 20)  # 80: the weekly cap
    instants += spaced(7, 20)
    instants += [at(8, "09:00"), at(8, "09:03"), at(8, "17:59")]  # gap and hours just inside
    instants += [at(8, "10:00") + timedelta(minutes=10 * n) for n in range(7)]  # 7 in an hour
    assert violations(trace_of(instants), sim_settings(SimParams())) == {
        "cap": 0,
        "budget": 0,
        "consecutive_day": 0,
        "min_gap": 0,
        "outside_hours": 0,
    }


def test_every_kind_of_breach_is_counted() -> None:
    settings = sim_settings(SimParams())  # UTC; hourly 6, daily 20, weekly 80, gap 3 min
    assert (settings.HOURLY_LIMIT, settings.DAILY_LIMIT, settings.WEEKLY_LIMIT) == (6, 20, 80)
    instants = [at(0, "10:00") + timedelta(minutes=5 * n) for n in range(8)]  # hourly: 2
    instants += [at(1, "12:00"), at(1, "12:01"), at(1, "13:00"), at(1, "13:03")]  # min gap: 1
    instants += [at(2, "08:55"), at(2, "09:00"), at(2, "17:55"), at(2, "18:00")]  # hours: 2
    instants += spaced(3, 21)  # daily: 1
    instants += spaced(7, 20) + spaced(8, 20) + spaced(9, 20) + spaced(10, 20)
    instants += [at(11, "09:00")]  # week two holds 81: weekly 1
    budgets = [
        GOOD_WEEK,
        [12, 11, 12, 11, 12, 11, 10],  # sums to 79
        [4, 12, 13, 12, 13, 13, 13],  # a day under DAILY_BUDGET_MIN
        [21, 10, 10, 10, 10, 10, 9],  # a day over the daily cap
        [4, 21, 10, 10, 10, 10, 10],  # both, still one week
    ]
    attempts = {
        (0, "a"): Status.DONE,
        (1, "a"): Status.FAILED,  # the day after a success: 1
        (1, "b"): Status.DONE,
        (2, "b"): Status.DONE,  # 1
        (3, "b"): Status.NO_POSTS,  # 1
        (0, "c"): Status.FAILED,
        (1, "c"): Status.DONE,  # not after a success
        (3, "d"): Status.DONE,
        (5, "d"): Status.DONE,  # a day between
        (4, "e"): Status.NO_POSTS,
        (5, "e"): Status.DONE,
    }
    assert violations(trace_of(instants, budgets, attempts), settings) == {
        "cap": 4,  # hourly 2 + daily 1 + weekly 1
        "budget": 4,
        "consecutive_day": 3,
        "min_gap": 1,
        "outside_hours": 2,
    }


def test_breaches_are_judged_on_the_local_clock_and_calendar() -> None:
    """Europe/Berlin (UTC+1 in January): hours, days and weeks are local ones."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, TIMEZONE="Europe/Berlin", WEEKLY_BUDGET_TARGET=80, WEEKLY_LIMIT=80
    )
    # Monday: 20 from 09:00 local, and one at 00:30 Tuesday local (outside hours; it is a
    # 21st Monday action in UTC only).
    instants = [*spaced(0, 20, start="08:00"), at(0, "23:30")]
    # Wednesday: 09:30 local is inside the hours (08:30 UTC is not), 18:30 local is outside.
    instants += [at(2, "08:30"), at(2, "17:30")]
    # Sunday 23:30 UTC is Monday 00:30 local (outside hours): the second local week then
    # holds 81 actions (80 in UTC weeks), none of its days more than 20.
    instants += [at(6, "23:30"), *spaced(7, 19, start="08:00")]
    instants += spaced(8, 20, start="08:00") + spaced(9, 20, start="08:00")
    instants += [*spaced(10, 20, start="08:00"), at(11, "08:00")]
    assert violations(trace_of(instants), settings) == {
        "cap": 1,
        "budget": 0,
        "consecutive_day": 0,
        "min_gap": 0,
        "outside_hours": 3,
    }
