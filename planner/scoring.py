"""Coverage-first scoring and the choice of who is engaged on one day.

Pure: candidates in, a frozen ``DaySelection`` out, randomness from an injected
``numpy.random.Generator``. Candidates are handled in key order and every tie is broken by
key, so the same candidates (in any order) and the same generator state give the same
selection (I8).

Selection of one day (DESIGN.md "late binding", correcting the seed's section 4.2):

1. hard-forced: whoever would miss their deadline unless picked today. By Jackson's rule
   (earliest deadline first is optimal), today must take
   ``max over d of #(deadline <= d) - slots(day+1 .. d)``, overdue ones included, and
   they are the earliest deadlines. No per-day cap applies to them.
2. soft-forced: the seed's safety net; past FORCE_INCLUDE_DAYS_THRESHOLD days, earliest
   deadline first, at most FORCE_INCLUDE_MAX_PER_DAY.
3. if even the hard-forced exceed the budget, the earliest deadlines are taken and the
   rest is reported as ``shortfall``.
4. the rest of the budget is filled by weighted sampling without replacement (weight =
   score) from the top SELECTION_POOL_MULTIPLIER x remaining candidates by score. The
   sampling only fills; nobody who must be engaged depends on it (see DESIGN.md,
   "Algorithms": sampling without replacement does not include items with probability k x p).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from itertools import accumulate
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from config.settings import Settings

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

LEGACY_DAYS_WEIGHT = 10.0
LEGACY_RECENCY_BONUS = 15.0
LEGACY_JITTER = 10.0


def calculate_priority(days_since: float, rng: np.random.Generator, settings: Settings) -> float:
    """The seed's coverage-first score: ``min(days * weight, cap) + uniform(0, jitter)``."""
    base = min(days_since * settings.PRIORITY_DAYS_WEIGHT, settings.PRIORITY_DAYS_CAP)
    return float(base + rng.uniform(0.0, settings.PRIORITY_JITTER_MAX))


def legacy_priority(days_since: float, posted_recently: bool, rng: np.random.Generator) -> float:
    """The replaced system's score: ``days*10 + 15 if posted within 24 h + uniform(-10, 10)``."""
    bonus = LEGACY_RECENCY_BONUS if posted_recently else 0.0
    return float(
        days_since * LEGACY_DAYS_WEIGHT + bonus + rng.uniform(-LEGACY_JITTER, LEGACY_JITTER)
    )


def calculate_priorities(
    days_since: FloatArray, rng: np.random.Generator, settings: Settings
) -> FloatArray:
    """``calculate_priority`` of each of ``days_since`` (one jitter draw each, in order)."""
    return _score_array(days_since, rng, settings)


def legacy_priorities(
    days_since: FloatArray, posted_recently: npt.NDArray[np.bool_], rng: np.random.Generator
) -> FloatArray:
    """``legacy_priority`` of each profile (one jitter draw each, in order)."""
    bonus = np.where(posted_recently, LEGACY_RECENCY_BONUS, 0.0)
    jitter = rng.uniform(-LEGACY_JITTER, LEGACY_JITTER, size=len(days_since))
    out: FloatArray = days_since * LEGACY_DAYS_WEIGHT + bonus + jitter
    return out


@dataclass(frozen=True)
class Candidate:
    """An eligible profile: its days since the last success and the date it is due by."""

    key: str
    days_since: float
    deadline: date  # the local date by which it must be engaged (last done + guarantee days)


@dataclass(frozen=True)
class ScoredCandidate:
    candidate: Candidate
    score: float


class Pick(NamedTuple):
    """A profile chosen for a slot (a tuple: planning makes one per slot, every day)."""

    key: str
    score: float
    days_since: float
    forced: bool


@dataclass(frozen=True)
class DaySelection:
    picks: tuple[Pick, ...]  # forced first (earliest deadline first), then the sampled rest
    forced: int  # picks that came from forced inclusion (hard and soft)
    shortfall: int  # profiles that had to be picked today to meet their deadline but did not fit


def score_all_profiles(
    candidates: Sequence[Candidate], rng: np.random.Generator, settings: Settings
) -> list[ScoredCandidate]:
    """Score every candidate (one jitter draw each, in key order), highest score first."""
    ordered = _by_key(candidates)
    scores = _scores(ordered, rng, settings)
    scored = [ScoredCandidate(c, float(s)) for c, s in zip(ordered, scores, strict=True)]
    return sorted(scored, key=lambda sc: (-sc.score, sc.candidate.key))


def required_today(
    deadlines: Sequence[date], day: date, future_budgets: Sequence[int], settings: Settings
) -> int:
    """How many of ``deadlines`` must be met today for every one of them to stay feasible.

    ``future_budgets[i]`` is the number of slots on ``day + 1 + i``. Beyond them each day is
    assumed to bring ``WEEKLY_BUDGET_TARGET // 7`` slots (rounding down errs toward forcing).
    """
    ordinals = np.sort(np.fromiter((d.toordinal() for d in deadlines), np.int64, len(deadlines)))
    return _required(ordinals, day.toordinal(), _future(future_budgets), settings)


def select_for_day(
    candidates: Sequence[Candidate],
    budget: int,
    *,
    day: date,
    future_budgets: Sequence[int],
    rng: np.random.Generator,
    settings: Settings,
) -> DaySelection:
    """Choose up to ``budget`` of ``candidates`` for ``day``: deadlines first, then by score."""
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    ordered = _by_key(candidates)
    keys = [c.key for c in ordered]
    if len(set(keys)) != len(keys):
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"duplicate candidate keys: {dupes[:5]}")
    n = len(ordered)
    chosen = select_indices(
        np.fromiter((c.days_since for c in ordered), np.float64, n),
        np.fromiter((c.deadline.toordinal() for c in ordered), np.int64, n),
        budget,
        day=day.toordinal(),
        future_budgets=_future(future_budgets),
        rng=rng,
        settings=settings,
    )
    picks = tuple(
        Pick(keys[i], float(chosen.scores[i]), ordered[i].days_since, rank < chosen.forced)
        for rank, i in enumerate(chosen.order.tolist())
    )
    return DaySelection(picks=picks, forced=chosen.forced, shortfall=chosen.shortfall)


@dataclass(frozen=True)
class IndexSelection:
    """``select_indices``' answer, as positions into the candidate arrays."""

    order: IntArray  # picked positions: forced first (earliest deadline first), then the rest
    scores: FloatArray  # the score of every candidate
    forced: int
    shortfall: int


def select_indices(
    days_since: FloatArray,
    deadlines: IntArray,
    budget: int,
    *,
    day: int,
    future_budgets: IntArray,
    rng: np.random.Generator,
    settings: Settings,
) -> IndexSelection:
    """``select_for_day`` on arrays: the planner's hot path, one numpy pass per step.

    The candidates are given in key order (position ``i`` is the ``i``-th smallest key, no
    key twice); ``deadlines`` and ``day`` are proleptic ordinals (``date.toordinal()``). The
    draws are the ones ``select_for_day`` documents, in the same order, so both give the
    same selection from the same generator state.
    """
    n = len(days_since)
    scores = _score_array(days_since, rng, settings)
    # A stable sort keeps key order among equal deadlines: (deadline, key) as documented.
    by_deadline = np.argsort(deadlines, kind="stable")
    hard_n = _required(deadlines[by_deadline], day, future_budgets, settings)
    taken = by_deadline[: min(hard_n, budget)]
    shortfall = min(hard_n, n) - len(taken)
    room = budget - len(taken)
    later = by_deadline[hard_n:]
    soft_cap = min(settings.FORCE_INCLUDE_MAX_PER_DAY, room)
    soft = later[days_since[later] > settings.FORCE_INCLUDE_DAYS_THRESHOLD][:soft_cap]
    forced = np.concatenate((taken, soft))
    if len(forced):
        free = np.ones(n, dtype=bool)
        free[forced] = False
        rest = np.flatnonzero(free)
    else:
        rest = np.arange(n)
    fill = _weighted_fill(rest, scores, budget - len(forced), rng, settings)
    return IndexSelection(np.concatenate((forced, fill)), scores, len(forced), shortfall)


def _by_key(candidates: Sequence[Candidate]) -> list[Candidate]:
    return sorted(candidates, key=lambda c: c.key)


def _future(future_budgets: Sequence[int]) -> IntArray:
    future = np.asarray(list(future_budgets), dtype=np.int64)
    if (future < 0).any():
        raise ValueError(f"future_budgets must be >= 0, got {list(future_budgets)}")
    return future


def _required(sorted_deadlines: IntArray, day: int, future: IntArray, settings: Settings) -> int:
    """Jackson's rule over deadlines sorted ascending: the largest excess of due over slots."""
    deadlines = sorted_deadlines.tolist()
    beyond = settings.WEEKLY_BUDGET_TARGET // 7
    cumulative = list(accumulate(future.tolist()))
    planned = cumulative[-1] if cumulative else 0
    worst = 0
    # Deadlines bunch on a few dates and slots only grow with the deadline, so the excess
    # peaks at the last profile of each date: one step per date, not per profile.
    for deadline in dict.fromkeys(deadlines):
        ahead = deadline - day  # slots on day+1 .. deadline count toward it
        if ahead <= 0:
            slots = 0
        elif ahead <= len(cumulative):
            slots = cumulative[ahead - 1]
        else:
            slots = planned + beyond * (ahead - len(cumulative))
        worst = max(worst, bisect_right(deadlines, deadline) - slots)
    return worst


def _scores(
    ordered: Sequence[Candidate], rng: np.random.Generator, settings: Settings
) -> FloatArray:
    days = np.array([c.days_since for c in ordered], dtype=np.float64)
    return _score_array(days, rng, settings)


def _score_array(days: FloatArray, rng: np.random.Generator, settings: Settings) -> FloatArray:
    base = np.minimum(days * settings.PRIORITY_DAYS_WEIGHT, settings.PRIORITY_DAYS_CAP)
    jitter = rng.uniform(0.0, settings.PRIORITY_JITTER_MAX, size=len(days))
    out: FloatArray = base + jitter
    return out


def _weighted_fill(
    rest: IntArray, scores: FloatArray, k: int, rng: np.random.Generator, settings: Settings
) -> IntArray:
    """``k`` of ``rest`` by weighted sampling without replacement from the top-scored pool."""
    if k <= 0 or not len(rest):
        return np.empty(0, dtype=np.int64)
    pool = _top(rest, scores, max(k, settings.SELECTION_POOL_MULTIPLIER * k))
    if len(pool) <= k:
        return pool
    # Efraimidis-Spirakis: the k largest log(u)/w are a weighted sample without replacement
    # (the same law as sequential draws); zero weights sort last, in random order, instead
    # of making numpy's choice() raise.
    u = rng.random(len(pool))
    weight = np.maximum(scores[pool], 0.0)
    usable = (weight > 0) & (u > 0)
    if usable.all():  # the usual case: the same keys without the masking
        es_key = np.log(u) / weight
    else:
        es_key = np.full(len(pool), -np.inf)
        es_key[usable] = np.log(u[usable]) / weight[usable]
    # Largest key first, then the larger draw, then the key (positions are in key order).
    order = np.lexsort((pool, -u, -es_key))
    out: IntArray = pool[order[:k]]
    return out


def _top(rest: IntArray, scores: FloatArray, size: int) -> IntArray:
    """The ``size`` best of ``rest`` by (-score, key), in that order."""
    values = -scores[rest]
    if len(rest) > 8 * size:
        # Partial selection instead of a full sort; ties at the cut go by key, as a stable
        # sort of everything would have it.
        cut = np.partition(values, size - 1)[size - 1]
        better = np.flatnonzero(values < cut)
        tied = np.flatnonzero(values == cut)[: size - len(better)]
        keep = np.sort(np.concatenate((better, tied)))
        ranked = keep[np.argsort(values[keep], kind="stable")]
    else:
        ranked = np.argsort(values, kind="stable")[:size]
    out: IntArray = rest[ranked]
    return out
