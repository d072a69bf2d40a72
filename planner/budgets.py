"""Daily budgets: irregular per-day action counts that sum exactly to a week's target (I6).

Pure: plain numbers in, a frozen ``BudgetDraw`` out, randomness from an injected
``numpy.random.Generator`` (same generator state -> same draw, I8).

The algorithm (the seed's ``_sample_daily_budgets``, section 4.4, made exact):

1. every day gets a draw from a normal(DAILY_BUDGET_MEAN, DAILY_BUDGET_STD) truncated to
   its own bounds ``[lo_i, hi_i]`` (inverse CDF, one uniform per day), rounded;
2. the sum is walked to the target one unit at a time on random days that still have room,
   so no day ever leaves its bounds (the seed's proportional rescaling and re-clipping could
   leave the sum off target);
3. each day, with probability BURST_DAY_PROBABILITY, becomes a burst day: it gains
   BURST_DAY_EXTRA_MIN..MAX (as far as its cap allows), taken from one "light" day with
   enough room if there is one, else from the days with most room. The sum does not move.

Bounds of day ``i``:

* ``hi_i = min(DAILY_BUDGET_MAX, DAILY_LIMIT, day_caps[i])``. ``day_caps`` lets the caller
  cap a day whose window is partly over (today) or closed.
* ``lo_i = min(DAILY_BUDGET_MIN, hi_i)``, except when the target is smaller than
  ``n_days * DAILY_BUDGET_MIN`` (late in a week that already used most of its budget): then
  the lower bound relaxes to ``target // n_days`` so the exact sum stays reachable.

If the target exceeds the sum of the caps, every day gets its cap and the rest is reported
as ``shortfall`` rather than silently dropped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from config.settings import Settings


@dataclass(frozen=True)
class BudgetDraw:
    """Budgets of consecutive days, which of them are burst / light days, and what did not fit."""

    budgets: tuple[int, ...]
    burst: tuple[bool, ...]
    light: tuple[bool, ...]
    shortfall: int  # part of the target that could not be placed within the caps

    @property
    def total(self) -> int:
        return sum(self.budgets)


def day_bounds(
    n_days: int, target: int, settings: Settings, day_caps: Sequence[int] | None = None
) -> tuple[list[int], list[int]]:
    """Per-day ``(lower, upper)`` bounds that ``sample_daily_budgets`` keeps every day within."""
    if n_days < 0:
        raise ValueError(f"n_days must be >= 0, got {n_days}")
    if target < 0:
        raise ValueError(f"target must be >= 0, got {target}")
    if day_caps is None:
        day_caps = [settings.daily_cap] * n_days
    if len(day_caps) != n_days:
        raise ValueError(f"day_caps has {len(day_caps)} entries for {n_days} days")
    if any(c < 0 for c in day_caps):
        raise ValueError(f"day_caps must be >= 0, got {list(day_caps)}")
    hi = [min(settings.daily_cap, int(c)) for c in day_caps]
    floor = settings.DAILY_BUDGET_MIN
    if target < n_days * floor:
        floor = target // n_days
    lo = [min(floor, h) for h in hi]
    return lo, hi


def sample_daily_budgets(
    rng: np.random.Generator,
    n_days: int,
    target: int,
    settings: Settings,
    *,
    day_caps: Sequence[int] | None = None,
) -> BudgetDraw:
    """Sample ``n_days`` budgets summing to ``target`` (or to all the caps allow)."""
    lo, hi = day_bounds(n_days, target, settings, day_caps)
    if n_days == 0:
        return BudgetDraw((), (), (), shortfall=target)
    placeable = min(target, sum(hi))
    draws = _truncated_normal(
        rng, settings.DAILY_BUDGET_MEAN, settings.DAILY_BUDGET_STD, np.array(lo), np.array(hi)
    )
    budgets = [int(v) for v in np.floor(draws + 0.5)]
    budgets = [min(max(b, low), high) for b, low, high in zip(budgets, lo, hi, strict=True)]
    _walk_to_total(rng, budgets, lo, hi, placeable)
    burst, light = _add_bursts(rng, budgets, lo, hi, settings)
    return BudgetDraw(
        budgets=tuple(budgets),
        burst=tuple(burst),
        light=tuple(light),
        shortfall=target - placeable,
    )


def _truncated_normal(
    rng: np.random.Generator,
    mean: float,
    std: float,
    lo: npt.NDArray[np.int_],
    hi: npt.NDArray[np.int_],
) -> npt.NDArray[np.float64]:
    # Scalar math for at most seven days: scipy.special would cost ~0.2 s to import in every
    # process that draws budgets, and numpy calls cost more than the arithmetic here.
    u = rng.random(len(lo)).tolist()
    out: list[float] = []
    for low, high, v in zip(lo.tolist(), hi.tolist(), u, strict=True):
        nearest = min(max(mean, low), high)
        if std <= 0:
            out.append(nearest)
            continue
        # Widen by half a unit so the rounded value is spread fairly over the end points.
        a = (low - 0.5 - mean) / std
        b = (high + 0.5 - mean) / std
        # Inverting in the lower tail keeps precision when both bounds sit far above the mean.
        flip = a > 0
        pa, pb = (_ndtr(-b), _ndtr(-a)) if flip else (_ndtr(a), _ndtr(b))
        z = _ndtri(pa + v * (pb - pa))
        x = mean + std * (-z if flip else z)
        # Bounds so far out in a tail that no probability mass is resolvable: the nearest bound.
        out.append(min(max(x, low), high) if pb > pa and math.isfinite(x) else nearest)
    return np.array(out, dtype=np.float64)


_SQRT_HALF = math.sqrt(0.5)
_STANDARD = NormalDist()


def _ndtr(x: float) -> float:
    """Standard normal CDF, computed as scipy.special.ndtr does (erf near 0, erfc in tails)."""
    t = x * _SQRT_HALF
    if abs(t) < _SQRT_HALF:
        return 0.5 + 0.5 * math.erf(t)
    tail = 0.5 * math.erfc(abs(t))
    return 1.0 - tail if t > 0 else tail


def _ndtri(p: float) -> float:
    """Inverse of ``_ndtr`` (Wichura's AS241 in ``statistics``): -inf at 0, +inf at 1."""
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    return _STANDARD.inv_cdf(p)


def _walk_to_total(
    rng: np.random.Generator, budgets: list[int], lo: list[int], hi: list[int], total: int
) -> None:
    """Move ``budgets`` to sum ``total`` by single units on random days with room."""
    diff = total - sum(budgets)
    step = 1 if diff > 0 else -1
    while diff != 0:
        if step > 0:
            room = [i for i, (b, h) in enumerate(zip(budgets, hi, strict=True)) if b < h]
        else:
            room = [i for i, (b, low) in enumerate(zip(budgets, lo, strict=True)) if b > low]
        day = room[int(rng.integers(len(room)))]  # never empty: lo-sum <= total <= hi-sum
        budgets[day] += step
        diff -= step


def _add_bursts(
    rng: np.random.Generator,
    budgets: list[int],
    lo: list[int],
    hi: list[int],
    settings: Settings,
) -> tuple[list[bool], list[bool]]:
    n = len(budgets)
    burst = [False] * n
    light = [False] * n
    for day in range(n):
        # One uniform per day whatever happens, so a day's outcome does not shift the others'.
        if rng.random() >= settings.BURST_DAY_PROBABILITY or light[day]:
            continue
        extra = int(rng.integers(settings.BURST_DAY_EXTRA_MIN, settings.BURST_DAY_EXTRA_MAX + 1))
        extra = min(extra, hi[day] - budgets[day])
        donors = [j for j in range(n) if j != day and not burst[j] and budgets[j] > lo[j]]
        if extra <= 0 or not donors:
            continue
        roomy = [j for j in donors if budgets[j] - lo[j] >= extra]
        if roomy:
            order = [roomy[int(rng.integers(len(roomy)))]]
        else:
            order = sorted(donors, key=lambda j: (lo[j] - budgets[j], j))
        moved = 0
        for j in order:
            take = min(extra - moved, budgets[j] - lo[j])
            budgets[j] -= take
            light[j] = True
            moved += take
            if moved == extra:
                break
        budgets[day] += moved
        burst[day] = True
    return burst, light
