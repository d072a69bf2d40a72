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
from functools import lru_cache
from statistics import NormalDist
from typing import NamedTuple

import numpy as np

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
    law = _week_law(target, _caps(n_days, target, settings, day_caps), settings)
    return list(law.lo), list(law.hi)


def _caps(
    n_days: int, target: int, settings: Settings, day_caps: Sequence[int] | None
) -> tuple[int, ...]:
    """Each day's upper bound, after refusing bad arguments."""
    if n_days < 0:
        raise ValueError(f"n_days must be >= 0, got {n_days}")
    if target < 0:
        raise ValueError(f"target must be >= 0, got {target}")
    cap = settings.daily_cap
    if day_caps is None:
        day_caps = [cap] * n_days
    if len(day_caps) != n_days:
        raise ValueError(f"day_caps has {len(day_caps)} entries for {n_days} days")
    if any(c < 0 for c in day_caps):
        raise ValueError(f"day_caps must be >= 0, got {list(day_caps)}")
    return tuple([min(cap, int(c)) for c in day_caps])


class _DayLaw(NamedTuple):
    """One day's truncated normal, all but its uniform: fixed by the bounds and settings."""

    low: int
    high: int
    nearest: float  # the mean moved into the bounds
    flip: bool  # inverted in the lower tail (both bounds far above the mean)
    pa: float  # CDF at the (possibly flipped) lower end of the widened bounds
    width: float  # CDF mass between the ends
    resolvable: bool  # False: no mass the inverse CDF can resolve, the draw is ``nearest``


class _WeekLaw(NamedTuple):
    """Everything about a draw that the generator does not decide."""

    lo: tuple[int, ...]
    hi: tuple[int, ...]
    placeable: int  # the part of the target the caps can hold
    mean: float
    std: float
    days: tuple[_DayLaw, ...]


def _week_law(target: int, hi: tuple[int, ...], settings: Settings) -> _WeekLaw:
    return _derive_week_law(
        target,
        hi,
        settings.DAILY_BUDGET_MIN,
        settings.DAILY_BUDGET_MEAN,
        settings.DAILY_BUDGET_STD,
    )


# A planner asks for the same few weeks (full caps, or today's window partly over) again and
# again; the CDF values at the bounds cost more than the rest of a draw.
@lru_cache(maxsize=256)
def _derive_week_law(
    target: int, hi: tuple[int, ...], floor: int, mean: float, std: float
) -> _WeekLaw:
    n_days = len(hi)
    if target < n_days * floor:
        floor = target // n_days
    lo = tuple([min(floor, h) for h in hi])
    days: list[_DayLaw] = []
    for low, high in zip(lo, hi, strict=True):
        # A float like a drawn value, so that both round alike.
        nearest = float(min(max(mean, low), high))
        if std <= 0:
            days.append(_DayLaw(low, high, nearest, False, 0.0, 0.0, False))
            continue
        # Widen by half a unit so the rounded value is spread fairly over the end points.
        a = (low - 0.5 - mean) / std
        b = (high + 0.5 - mean) / std
        # Inverting in the lower tail keeps precision when both bounds sit far above the mean.
        flip = a > 0
        pa, pb = (_ndtr(-b), _ndtr(-a)) if flip else (_ndtr(a), _ndtr(b))
        days.append(_DayLaw(low, high, nearest, flip, pa, pb - pa, pb > pa))
    return _WeekLaw(lo, hi, min(target, sum(hi)), mean, std, tuple(days))


def sample_daily_budgets(
    rng: np.random.Generator,
    n_days: int,
    target: int,
    settings: Settings,
    *,
    day_caps: Sequence[int] | None = None,
) -> BudgetDraw:
    """Sample ``n_days`` budgets summing to ``target`` (or to all the caps allow)."""
    law = _week_law(target, _caps(n_days, target, settings, day_caps), settings)
    if n_days == 0:
        return BudgetDraw((), (), (), shortfall=target)
    budgets = _truncated_normal(rng, law)
    lo, hi = list(law.lo), list(law.hi)
    _walk_to_total(rng, budgets, lo, hi, law.placeable)
    burst, light = _add_bursts(rng, budgets, lo, hi, settings)
    return BudgetDraw(
        budgets=tuple(budgets),
        burst=tuple(burst),
        light=tuple(light),
        shortfall=target - law.placeable,
    )


def _truncated_normal(rng: np.random.Generator, law: _WeekLaw) -> list[int]:
    """Each day's normal(mean, std) draw, truncated to its bounds, rounded to whole actions."""
    # Scalar math for at most seven days: scipy.special would cost ~0.2 s to import in every
    # process that draws budgets, and numpy calls cost more than the arithmetic here.
    mean, std = law.mean, law.std
    out: list[int] = []
    for day, v in zip(law.days, rng.random(len(law.days)).tolist(), strict=True):
        x = day.nearest
        if day.resolvable:
            z = _ndtri(day.pa + v * day.width)
            drawn = mean + std * (-z if day.flip else z)
            # Bounds so far out in a tail that the inverse is infinite: the nearest bound.
            if math.isfinite(drawn):
                x = min(max(drawn, day.low), day.high)
        out.append(math.floor(x + 0.5))  # whole bounds: rounding keeps x within them
    return out


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
    if diff > 0:
        step, room = 1, [i for i, (b, h) in enumerate(zip(budgets, hi, strict=True)) if b < h]
    else:
        step, room = -1, [i for i, (b, low) in enumerate(zip(budgets, lo, strict=True)) if b > low]
    # A step changes only its own day's room, so the list (in day order, which the draw
    # indexes) loses a day when it reaches its bound instead of being rebuilt each step.
    limit = hi if step > 0 else lo
    for _ in range(abs(diff)):
        day = room[int(rng.integers(len(room)))]  # never empty: lo-sum <= total <= hi-sum
        budgets[day] += step
        if budgets[day] == limit[day]:
            room.remove(day)


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
    chance = settings.BURST_DAY_PROBABILITY
    extra_min, extra_max = settings.BURST_DAY_EXTRA_MIN, settings.BURST_DAY_EXTRA_MAX
    for day in range(n):
        # One uniform per day whatever happens, so a day's outcome does not shift the others'.
        if rng.random() >= chance or light[day]:
            continue
        extra = int(rng.integers(extra_min, extra_max + 1))
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
