"""Daily budgets: exact sums, per-day bounds and caps (I6), bursts, determinism (I8)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from scipy.special import ndtr, ndtri

from config.settings import Settings
from planner.budgets import BudgetDraw, _ndtr, _ndtri, day_bounds, sample_daily_budgets


def make_settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, **overrides)


def assert_within_bounds(
    draw: BudgetDraw, n_days: int, target: int, s: Settings, caps: Sequence[int] | None
) -> None:
    lo, hi = day_bounds(n_days, target, s, caps)
    assert len(draw.budgets) == len(draw.burst) == len(draw.light) == n_days
    for b, low, high in zip(draw.budgets, lo, hi, strict=True):
        assert low <= b <= high
    assert draw.total == min(target, sum(hi))
    assert draw.shortfall == target - draw.total


@pytest.mark.parametrize("seed", range(20))
def test_full_week_sums_to_target_within_bounds(settings: Settings, seed: int) -> None:
    """A full week sums to exactly 80 with every day in [5, 20]."""
    draw = sample_daily_budgets(np.random.default_rng(seed), 7, 80, settings)
    assert sum(draw.budgets) == 80
    assert draw.shortfall == 0
    assert all(5 <= b <= 20 for b in draw.budgets)


@pytest.mark.parametrize(
    ("n_days", "target", "caps", "expected"),
    [
        # expected: (total placed, shortfall, lowest budget a day may get)
        (7, 80, None, (80, 0, 5)),
        (7, 35, None, (35, 0, 5)),
        (7, 140, None, (140, 0, 5)),
        (4, 46, None, (46, 0, 5)),  # Thursday: the pro-rated rest of the week
        (3, 10, None, (10, 0, 3)),  # below 3 x MIN: the lower bound relaxes to 10 // 3
        (4, 0, None, (0, 0, 0)),
        (1, 7, None, (7, 0, 5)),
        (3, 80, [2, 20, 20], (42, 38, 2)),  # more than the caps hold: the rest is shortfall
        (2, 3, [0, 20], (3, 0, 0)),  # today's window is over: a cap of 0
        (0, 15, None, (0, 15, 0)),
        (7, 200, None, (140, 60, 5)),
    ],
)
def test_bounds_table(
    settings: Settings,
    n_days: int,
    target: int,
    caps: list[int] | None,
    expected: tuple[int, int, int],
) -> None:
    """Mid-week targets, relaxed lower bounds, day caps and shortfalls give the tabled sums."""
    total, shortfall, low = expected
    draw = sample_daily_budgets(np.random.default_rng(1), n_days, target, settings, day_caps=caps)
    assert draw.total == total
    assert draw.shortfall == shortfall
    assert all(b >= min(low, c) for b, c in zip(draw.budgets, caps or [99] * n_days, strict=True))
    assert_within_bounds(draw, n_days, target, settings, caps)


def test_relaxed_lower_bound_is_target_div_days(settings: Settings) -> None:
    """When the target is below n_days x MIN the lower bound is target // n_days."""
    lo, hi = day_bounds(3, 10, settings)
    assert lo == [3, 3, 3]
    assert hi == [20, 20, 20]


def test_caps_below_min_lower_the_floor(settings: Settings) -> None:
    """A day capped below DAILY_BUDGET_MIN gets a floor equal to its cap."""
    lo, hi = day_bounds(3, 40, settings, [3, 20, 20])
    assert (lo, hi) == ([3, 5, 5], [3, 20, 20])


def test_daily_limit_caps_days() -> None:
    """DAILY_LIMIT bounds a day just like DAILY_BUDGET_MAX does."""
    s = make_settings(DAILY_BUDGET_MAX=20, DAILY_LIMIT=20, WEEKLY_BUDGET_TARGET=80)
    draw = sample_daily_budgets(np.random.default_rng(4), 7, 80, s, day_caps=[9] * 7)
    assert draw.budgets == (9,) * 7
    assert draw.shortfall == 80 - 63


@pytest.mark.parametrize("seed", [0, 1, 2, 99])
def test_same_seed_same_draw(settings: Settings, seed: int) -> None:
    """The same generator seed gives the same budgets, bursts and light days (I8)."""
    a = sample_daily_budgets(np.random.default_rng(seed), 7, 80, settings)
    b = sample_daily_budgets(np.random.default_rng(seed), 7, 80, settings)
    assert a == b


def test_draws_vary_between_seeds(settings: Settings) -> None:
    """Different seeds give different weeks (the budgets are irregular, not a fixed pattern)."""
    weeks = {
        sample_daily_budgets(np.random.default_rng(s), 7, 80, settings).budgets for s in range(30)
    }
    assert len(weeks) > 25


def test_distribution_matches_settings(settings: Settings) -> None:
    """Over many weeks the daily budgets average target / 7 with a spread near DAILY_BUDGET_STD."""
    rng = np.random.default_rng(7)
    values = np.array([sample_daily_budgets(rng, 7, 80, settings).budgets for _ in range(2000)])
    assert values.mean() == pytest.approx(80 / 7, abs=1e-9)
    assert 2.5 < values.std() < 5.0
    assert values.min() >= 5 and values.max() <= 20
    # every value of the range occurs: the draw is not stuck near the mean
    assert set(np.unique(values)) == set(range(5, 21))


def test_burst_days_about_one_per_week(settings: Settings) -> None:
    """With BURST_DAY_PROBABILITY 0.15 a week has about one burst day, each with a light day."""
    rng = np.random.default_rng(11)
    draws = [sample_daily_budgets(rng, 7, 80, settings) for _ in range(2000)]
    per_week = np.mean([sum(d.burst) for d in draws])
    assert 0.8 < per_week < 1.15
    for d in draws:
        assert (sum(d.burst) > 0) == (sum(d.light) > 0)
        assert not any(b and lt for b, lt in zip(d.burst, d.light, strict=True))


def test_no_bursts_when_probability_zero() -> None:
    """BURST_DAY_PROBABILITY 0 never marks burst or light days."""
    s = make_settings(BURST_DAY_PROBABILITY=0.0)
    rng = np.random.default_rng(3)
    for _ in range(200):
        d = sample_daily_budgets(rng, 7, 80, s)
        assert not any(d.burst) and not any(d.light)


def test_burst_extra_is_taken_from_other_days() -> None:
    """A burst keeps the exact sum: the extra is moved from light days, never created."""
    s = make_settings(BURST_DAY_PROBABILITY=1.0, BURST_DAY_EXTRA_MIN=3, BURST_DAY_EXTRA_MAX=5)
    rng = np.random.default_rng(5)
    for _ in range(300):
        d = sample_daily_budgets(rng, 7, 80, s)
        assert d.total == 80
        assert any(d.burst)
        assert_within_bounds(d, 7, 80, s, None)


def test_single_day_never_bursts() -> None:
    """One remaining day has nobody to take a burst from, so it keeps the exact target."""
    s = make_settings(BURST_DAY_PROBABILITY=1.0)
    d = sample_daily_budgets(np.random.default_rng(0), 1, 12, s)
    assert d == BudgetDraw((12,), (False,), (False,), 0)


@pytest.mark.parametrize(
    ("n_days", "target", "caps"),
    [(-1, 10, None), (3, -1, None), (3, 10, [5, 5]), (2, 10, [5, -1])],
)
def test_bad_arguments_raise(
    settings: Settings, n_days: int, target: int, caps: list[int] | None
) -> None:
    """Negative days or targets, and caps of the wrong length or sign, raise ValueError."""
    with pytest.raises(ValueError):
        sample_daily_budgets(np.random.default_rng(0), n_days, target, settings, day_caps=caps)


@st.composite
def budget_settings(draw: st.DrawFn) -> Settings:
    low = draw(st.integers(0, 10))
    high = draw(st.integers(max(low, 1), 40))
    extra_min = draw(st.integers(0, 6))
    return make_settings(
        DAILY_BUDGET_MIN=low,
        DAILY_BUDGET_MAX=high,
        DAILY_LIMIT=draw(st.integers(high, 50)),
        DAILY_BUDGET_MEAN=draw(st.floats(0, 40)),
        DAILY_BUDGET_STD=draw(st.floats(0, 15)),
        WEEKLY_BUDGET_TARGET=7 * low,
        WEEKLY_LIMIT=max(7 * high, 1),
        BURST_DAY_PROBABILITY=draw(st.floats(0, 1)),
        BURST_DAY_EXTRA_MIN=extra_min,
        BURST_DAY_EXTRA_MAX=draw(st.integers(extra_min, 10)),
    )


@hyp_settings(max_examples=150, deadline=None)
@given(
    s=budget_settings(),
    n_days=st.integers(0, 7),
    target=st.integers(0, 320),
    caps_seed=st.one_of(st.none(), st.lists(st.integers(0, 50), min_size=7, max_size=7)),
    seed=st.integers(0, 2**32 - 1),
)
def test_invariant_i6_for_any_valid_settings(
    s: Settings, n_days: int, target: int, caps_seed: list[int] | None, seed: int
) -> None:
    """Any valid settings: exact sum or reported shortfall, bounds, caps, same seed same draw."""
    caps = None if caps_seed is None else caps_seed[:n_days]
    a = sample_daily_budgets(np.random.default_rng(seed), n_days, target, s, day_caps=caps)
    assert_within_bounds(a, n_days, target, s, caps)
    assert all(b <= min(s.DAILY_BUDGET_MAX, s.DAILY_LIMIT) for b in a.budgets)
    if caps is None and s.DAILY_BUDGET_MIN * n_days <= target:
        assert all(b >= s.DAILY_BUDGET_MIN for b in a.budgets)
    b = sample_daily_budgets(np.random.default_rng(seed), n_days, target, s, day_caps=caps)
    assert a == b


def test_normal_cdf_and_inverse_match_scipy() -> None:
    """The scalar CDF and inverse the draw uses agree with scipy.special's to ~1e-13."""
    xs = np.linspace(-37.0, 9.0, 4001)  # below -37 the CDF is subnormal
    ours = np.array([_ndtr(x) for x in xs])
    np.testing.assert_allclose(ours, ndtr(xs), rtol=1e-13, atol=0)
    ps = np.concatenate(([0.0, 1e-300, 1e-20], np.linspace(1e-9, 1 - 1e-9, 4001), [1.0]))
    back = np.array([_ndtri(p) for p in ps])
    np.testing.assert_allclose(back, ndtri(ps), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(
    ("seed", "n_days", "target", "caps", "expected"),
    [
        # (budgets, burst days, light days): a full week with two burst days
        (0, 7, 80, None, ((13, 5, 6, 10, 20, 17, 9), (3, 4), (1, 6))),
        # the walk fills four days to their caps, so the later steps pick among fewer days
        (1, 5, 95, [20, 20, 19, 20, 20], ((20, 20, 15, 20, 20), (), ())),
        (2, 5, 95, [20, 20, 19, 20, 20], ((17, 19, 19, 20, 20), (3,), (0,))),
    ],
)
def test_exact_regression(
    settings: Settings,
    seed: int,
    n_days: int,
    target: int,
    caps: list[int] | None,
    expected: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]],
) -> None:
    """Fixed seeds give fixed budgets (guards against accidental changes of the draw)."""
    draw = sample_daily_budgets(
        np.random.default_rng(seed), n_days, target, settings, day_caps=caps
    )
    burst = tuple(i for i, b in enumerate(draw.burst) if b)
    light = tuple(i for i, b in enumerate(draw.light) if b)
    assert (draw.budgets, burst, light) == expected
