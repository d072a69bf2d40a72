"""Scoring and daily selection: deadlines forced first, shortfall reported, no duplicates, I8."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from config.settings import Settings
from planner.scoring import (
    Candidate,
    calculate_priority,
    legacy_priority,
    required_today,
    score_all_profiles,
    select_for_day,
)

DAY = date(2026, 2, 9)
WEEK = [11] * 13


def make_settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, **overrides)


def cand(key: str, days_since: float, deadline_in: int | None = None) -> Candidate:
    """A candidate whose deadline follows from days_since unless given (days from DAY)."""
    offset = 14 - int(np.ceil(days_since)) if deadline_in is None else deadline_in
    return Candidate(key, float(days_since), DAY + timedelta(days=offset))


def spread(n: int, max_days: float = 11.0) -> list[Candidate]:
    """``n`` profiles comfortably within their deadlines."""
    return [cand(f"ok{i:03d}", max_days * i / max(n - 1, 1)) for i in range(n)]


@pytest.mark.parametrize(
    ("days_since", "low", "high"),
    [(0, 0.0, 5.0), (5, 4.0, 9.0), (10, 8.0, 13.0), (15, 12.0, 17.0), (365, 12.0, 17.0)],
)
def test_priority_range(settings: Settings, days_since: float, low: float, high: float) -> None:
    """The score is min(days x 0.8, 12) plus a jitter in [0, 5]."""
    rng = np.random.default_rng(0)
    values = [calculate_priority(days_since, rng, settings) for _ in range(500)]
    assert low <= min(values) and max(values) <= high
    assert max(values) - min(values) > 4.0


@pytest.mark.parametrize(
    ("days_since", "posted", "low", "high"),
    [(0, False, -10.0, 10.0), (2, False, 10.0, 30.0), (2, True, 25.0, 45.0)],
)
def test_legacy_priority_range(days_since: float, posted: bool, low: float, high: float) -> None:
    """The replaced score is days x 10, plus 15 after a recent post, plus uniform(-10, 10)."""
    rng = np.random.default_rng(1)
    values = [legacy_priority(days_since, posted, rng) for _ in range(500)]
    assert low <= min(values) and max(values) <= high


def test_score_all_matches_calculate_priority(settings: Settings) -> None:
    """score_all_profiles draws one jitter per candidate in key order, like calculate_priority."""
    cands = [cand("b", 3), cand("a", 9), cand("c", 20)]
    scored = score_all_profiles(cands, np.random.default_rng(5), settings)
    rng = np.random.default_rng(5)
    expected = {
        c.key: calculate_priority(c.days_since, rng, settings)
        for c in sorted(cands, key=lambda c: c.key)
    }
    assert {s.candidate.key: s.score for s in scored} == pytest.approx(expected)
    assert [s.score for s in scored] == sorted((s.score for s in scored), reverse=True)


@pytest.mark.parametrize(
    ("deadline_offsets", "future", "expected"),
    [
        ([], WEEK, 0),
        ([-3, -1, 0, 5], WEEK, 3),  # overdue and due today
        ([1] * 11, WEEK, 0),  # tomorrow's 11 slots suffice
        ([1] * 30, WEEK, 19),  # tomorrow holds only 11 of 30
        ([1] * 5 + [2] * 20, [10, 10], 5),  # 25 due by day+2, 20 slots ahead
        ([0, 1, 1], [0, 0], 3),  # nothing ahead: all today
        ([20] * 50, [], 0),  # beyond the given days, 80 // 7 = 11 a day is assumed
        ([3] * 40, [], 7),  # 3 days x 11 assumed = 33 of 40
    ],
)
def test_required_today_table(
    settings: Settings, deadline_offsets: list[int], future: list[int], expected: int
) -> None:
    """Jackson's rule: today takes the largest excess of due profiles over future slots."""
    deadlines = [DAY + timedelta(days=d) for d in deadline_offsets]
    assert required_today(deadlines, DAY, future, settings) == expected


def test_overdue_are_forced_first_beyond_five(settings: Settings) -> None:
    """Eight overdue profiles are all picked first, more than the seed's 5 a day."""
    overdue = [cand(f"late{i}", 14 + i) for i in range(8)]
    sel = select_for_day(
        overdue + spread(60),
        12,
        day=DAY,
        future_budgets=WEEK,
        rng=np.random.default_rng(0),
        settings=settings,
    )
    assert {p.key for p in sel.picks[:8]} == {c.key for c in overdue}
    assert all(p.forced for p in sel.picks[:8])
    assert sel.forced >= 8
    assert sel.shortfall == 0
    assert len(sel.picks) == 12


def test_shortfall_reported_when_budget_cannot_cover(settings: Settings) -> None:
    """With 15 overdue and a budget of 10, the 10 earliest deadlines are taken and 5 reported."""
    overdue = [cand(f"late{i:02d}", 14 + i) for i in range(15)]
    sel = select_for_day(
        overdue + spread(30),
        10,
        day=DAY,
        future_budgets=WEEK,
        rng=np.random.default_rng(0),
        settings=settings,
    )
    assert sel.shortfall == 5
    assert sel.forced == 10
    assert {p.key for p in sel.picks} == {f"late{i:02d}" for i in range(5, 15)}


def test_lookahead_forces_today_when_tomorrow_is_full(settings: Settings) -> None:
    """Thirty profiles due tomorrow with 11 slots there: 19 are forced today, none are late."""
    due_tomorrow = [cand(f"t{i:02d}", 10, deadline_in=1) for i in range(30)]
    sel = select_for_day(
        due_tomorrow,
        20,
        day=DAY,
        future_budgets=WEEK,
        rng=np.random.default_rng(0),
        settings=settings,
    )
    assert sel.forced >= 19
    assert sel.shortfall == 0


def test_soft_forced_capped_at_max_per_day(settings: Settings) -> None:
    """Past-threshold profiles that are not yet at risk are forced at most 5 a day."""
    soft = [cand(f"s{i}", 12.5, deadline_in=2) for i in range(8)]
    sel = select_for_day(
        soft + spread(40),
        11,
        day=DAY,
        future_budgets=WEEK,
        rng=np.random.default_rng(0),
        settings=settings,
    )
    assert sel.forced == 5
    assert sel.shortfall == 0
    assert [p.key for p in sel.picks[:5]] == [f"s{i}" for i in range(5)]


def test_budget_zero_reports_every_hard_forced(settings: Settings) -> None:
    """A zero budget picks nobody and reports every profile that had to go today."""
    sel = select_for_day(
        [cand("a", 15), cand("b", 16), cand("c", 3)],
        0,
        day=DAY,
        future_budgets=WEEK,
        rng=np.random.default_rng(0),
        settings=settings,
    )
    assert sel.picks == ()
    assert sel.shortfall == 2


def test_filler_comes_from_the_top_pool() -> None:
    """Without jitter, two free slots are filled only from the top 2 x 2 scores."""
    s = make_settings(PRIORITY_JITTER_MAX=0.0)
    cands = [cand(f"p{d}", d) for d in range(10)]
    seen: set[str] = set()
    for seed in range(200):
        sel = select_for_day(
            cands, 2, day=DAY, future_budgets=WEEK, rng=np.random.default_rng(seed), settings=s
        )
        seen |= {p.key for p in sel.picks}
    assert seen == {"p6", "p7", "p8", "p9"}


def test_filler_prefers_higher_scores(settings: Settings) -> None:
    """Among the pool, a higher score is picked more often than a lower one."""
    cands = [cand("low", 1), cand("mid", 5), cand("high", 10), cand("top", 11)]
    counts = dict.fromkeys(("low", "mid", "high", "top"), 0)
    rng = np.random.default_rng(3)
    for _ in range(2000):
        for p in select_for_day(
            cands, 2, day=DAY, future_budgets=WEEK, rng=rng, settings=settings
        ).picks:
            counts[p.key] += 1
    assert counts["top"] > counts["mid"] > counts["low"]


def test_zero_scores_still_fill(settings: Settings) -> None:
    """Candidates with zero score (no days, no jitter) still fill the budget."""
    s = make_settings(PRIORITY_JITTER_MAX=0.0)
    cands = [cand(f"z{i}", 0) for i in range(6)]
    sel = select_for_day(
        cands, 2, day=DAY, future_budgets=WEEK, rng=np.random.default_rng(0), settings=s
    )
    assert len(sel.picks) == 2


def test_input_order_does_not_matter(settings: Settings) -> None:
    """The same candidates in another order give the same selection for the same seed (I8)."""
    cands = [cand(f"p{i:02d}", (i * 7) % 19) for i in range(50)]
    shuffled = cands[:]
    random.Random(4).shuffle(shuffled)
    a = select_for_day(
        cands, 11, day=DAY, future_budgets=WEEK, rng=np.random.default_rng(9), settings=settings
    )
    b = select_for_day(
        shuffled, 11, day=DAY, future_budgets=WEEK, rng=np.random.default_rng(9), settings=settings
    )
    assert a == b


@pytest.mark.parametrize("budget", [-1])
def test_negative_budget_raises(settings: Settings, budget: int) -> None:
    """A negative budget is refused with ValueError."""
    with pytest.raises(ValueError):
        select_for_day(
            [],
            budget,
            day=DAY,
            future_budgets=WEEK,
            rng=np.random.default_rng(0),
            settings=settings,
        )


def test_duplicate_keys_raise(settings: Settings) -> None:
    """Two candidates with one key are refused: a profile must not be picked twice."""
    with pytest.raises(ValueError, match="duplicate"):
        select_for_day(
            [cand("a", 1), cand("a", 2)],
            2,
            day=DAY,
            future_budgets=WEEK,
            rng=np.random.default_rng(0),
            settings=settings,
        )


_SETTINGS = make_settings()


@hyp_settings(max_examples=200, deadline=None)
@given(
    days=st.lists(st.floats(0, 40, allow_nan=False), max_size=60),
    budget=st.integers(0, 25),
    future=st.lists(st.integers(0, 20), max_size=10),
    seed=st.integers(0, 2**32 - 1),
)
def test_selection_properties(days: list[float], budget: int, future: list[int], seed: int) -> None:
    """Any input: no duplicates, min(budget, n) picks, forced first, overdue never hidden."""
    cands = [cand(f"p{i:03d}", d) for i, d in enumerate(days)]
    sel = select_for_day(
        cands,
        budget,
        day=DAY,
        future_budgets=future,
        rng=np.random.default_rng(seed),
        settings=_SETTINGS,
    )
    keys = [p.key for p in sel.picks]
    assert len(keys) == len(set(keys))
    assert len(keys) == min(budget, len(cands))
    assert [p.forced for p in sel.picks] == [True] * sel.forced + [False] * (len(keys) - sel.forced)
    overdue = {c.key for c in cands if c.deadline <= DAY}
    assert len(overdue - set(keys)) <= sel.shortfall
    again = select_for_day(
        cands,
        budget,
        day=DAY,
        future_budgets=future,
        rng=np.random.default_rng(seed),
        settings=_SETTINGS,
    )
    assert again == sel
