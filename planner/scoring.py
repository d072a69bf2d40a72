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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from itertools import accumulate
from operator import sub
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


class IndexSelection(NamedTuple):
    """``select_indices``' answer, as positions into the candidate arrays (a tuple: planning
    makes one per day, and a frozen dataclass costs several times more to build)."""

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
    key twice); ``deadlines`` and ``day`` are proleptic ordinals (``date.toordinal()``) and
    ``future_budgets`` are not negative. The draws are the ones ``select_for_day``
    documents, in the same order, so both give the same selection from the same generator
    state.
    """
    scores = _score_array(days_since, rng, settings)
    # A stable sort keeps key order among equal deadlines: (deadline, key) as documented.
    by_deadline = deadlines.argsort(kind="stable")
    hard_n = _required(deadlines[by_deadline], day, future_budgets, settings)
    # Conditional expressions rather than min(): this runs once per planned day, and the
    # builtin costs as much as a small numpy call.
    taken = by_deadline[: hard_n if hard_n < budget else budget]
    shortfall = hard_n - len(taken)  # hard_n never exceeds n (no slot count is negative)
    soft = _soft_forced(by_deadline[hard_n:], days_since, budget - len(taken), settings)
    forced = len(taken) + len(soft)
    fill = _weighted_fill(scores, (taken, soft), budget - forced, rng, settings)
    return IndexSelection(np.concatenate((taken, soft, fill)), scores, forced, shortfall)


def _soft_forced(
    later: IntArray, days_since: FloatArray, room: int, settings: Settings
) -> IntArray:
    """The first of ``later`` (in deadline order) past the threshold: at most the day's cap,
    and no more than the ``room`` left."""
    most = settings.FORCE_INCLUDE_MAX_PER_DAY
    cap = most if most < room else room
    if not cap:
        return later[:0]
    past: IntArray = later[days_since[later] > settings.FORCE_INCLUDE_DAYS_THRESHOLD]
    return past[:cap] if len(past) > cap else past


def _by_key(candidates: Sequence[Candidate]) -> list[Candidate]:
    return sorted(candidates, key=lambda c: c.key)


def _future(future_budgets: Sequence[int]) -> IntArray:
    future = np.asarray(list(future_budgets), dtype=np.int64)
    if (future < 0).any():
        raise ValueError(f"future_budgets must be >= 0, got {list(future_budgets)}")
    return future


def _required(sorted_deadlines: IntArray, day: int, future: IntArray, settings: Settings) -> int:
    """Jackson's rule over deadlines sorted ascending: the largest excess of due over slots.

    The excess of a date is how many are due by it (overdue ones included) less the slots
    on day+1 .. that date. With ``future`` not negative, slots only grow with the date, so a
    date nobody is due on never has a larger excess than the last deadline before it: every
    date up to the last deadline (a dozen or so, counted by one search) gives the same
    maximum as every deadline, without a Python step per profile.
    """
    n = len(sorted_deadlines)
    if not n:
        return 0
    horizon = len(future)
    last = sorted_deadlines.item(-1) - day  # the latest deadline, in days from today
    # min(max(last, 0), horizon) without the builtins, which cost like a numpy call here.
    span = horizon if last > horizon else last if last > 0 else 0
    due = sorted_deadlines.searchsorted(np.arange(day, day + span + 1), "right").tolist()
    worst: int = max(map(sub, due, accumulate(future.tolist(), initial=0)))
    if last > horizon:
        # Past the planned days each day is assumed to bring ``beyond`` slots. Taken per
        # profile (counted with everyone sorted before it) rather than per date: a date's
        # excess is that of its last profile, and its other profiles' are smaller.
        beyond = settings.WEEKLY_BUDGET_TARGET // 7
        ahead = sorted_deadlines[due[-1] :] - (day + horizon)
        excess = np.arange(due[-1] + 1, n + 1) - (int(future.sum()) + beyond * ahead)
        worst = max(worst, excess.item(excess.argmax()))
    return worst


def _scores(
    ordered: Sequence[Candidate], rng: np.random.Generator, settings: Settings
) -> FloatArray:
    days = np.array([c.days_since for c in ordered], dtype=np.float64)
    return _score_array(days, rng, settings)


def priority_base(days: FloatArray, settings: Settings) -> FloatArray:
    """``calculate_priorities`` before its jitter: ``min(days * weight, cap)``."""
    base: FloatArray = np.minimum(days * settings.PRIORITY_DAYS_WEIGHT, settings.PRIORITY_DAYS_CAP)
    return base


def _score_array(days: FloatArray, rng: np.random.Generator, settings: Settings) -> FloatArray:
    base = priority_base(days, settings)
    jitter = rng.uniform(0.0, settings.PRIORITY_JITTER_MAX, size=len(days))
    out: FloatArray = base + jitter
    return out


def _weighted_fill(
    scores: FloatArray,
    forced: tuple[IntArray, IntArray],
    k: int,
    rng: np.random.Generator,
    settings: Settings,
) -> IntArray:
    """``k`` of those not ``forced`` (hard, soft) by weighted sampling without replacement
    from the top-scored pool."""
    free = len(scores) - len(forced[0]) - len(forced[1])
    if k <= 0 or not free:
        return np.empty(0, dtype=np.int64)
    size = settings.SELECTION_POOL_MULTIPLIER * k  # at least k: the multiplier is positive
    pool, neg_weight = _pool(scores, forced, size if size < free else free)
    if len(pool) <= k:
        return pool
    # Efraimidis-Spirakis: the k largest log(u)/w are a weighted sample without replacement
    # (the same law as sequential draws); zero weights sort last, in random order, instead
    # of making numpy's choice() raise.
    u = rng.random(len(pool))
    if neg_weight is not None and np.count_nonzero(u) == len(u):
        # The usual case, every weight and draw positive: nothing to mask, and the negated
        # key -(log(u)/w) comes exactly as log(u)/-w (division is symmetric in sign).
        neg_key = np.log(u) / neg_weight
    else:
        neg_key = -_es_keys(u, np.maximum(scores[pool], 0.0))
    # Largest key first, then the larger draw, then the key (positions are in key order).
    order = np.lexsort((pool, -u, neg_key))
    out: IntArray = pool[order[:k]]
    return out


def _pool(
    scores: FloatArray, forced: tuple[IntArray, IntArray], size: int
) -> tuple[IntArray, FloatArray | None]:
    """The ``size`` best unforced by (-score, key), in that order, and minus their scores
    (their weights, negated) when those are all positive, else None.

    The forced rank last once their negated score is infinite, so one sort of everyone
    gives the pool when it ends on a positive score, the usual case. Otherwise a forced
    one may have reached the cut (behind scores of -inf or NaN), and the unforced are
    listed and ranked on their own.
    """
    neg = -scores
    for some in forced:
        if len(some):
            neg[some] = np.inf
    pool = _smallest(neg, size)
    neg_weight = neg[pool]
    # The pool runs from the highest score down: if its last is positive, all of them are.
    if len(pool) and neg_weight.item(-1) < 0:
        return pool, neg_weight
    free = np.ones(len(scores), dtype=bool)
    for some in forced:
        free[some] = False
    return _top(np.flatnonzero(free), scores, size), None


def _es_keys(u: FloatArray, weight: FloatArray) -> FloatArray:
    """Efraimidis-Spirakis keys ``log(u)/w``; -inf where the weight or the draw is 0 (or
    the weight NaN), without taking log(0)."""
    usable = (weight > 0) & (u > 0)
    keys = np.full(len(u), -np.inf)
    keys[usable] = np.log(u[usable]) / weight[usable]
    return keys


def _top(rest: IntArray, scores: FloatArray, size: int) -> IntArray:
    """The ``size`` best of ``rest`` by (-score, key), in that order."""
    out: IntArray = rest[_smallest(-scores[rest], size)]
    return out


def _smallest(values: FloatArray, size: int) -> IntArray:
    """Positions of the ``size`` smallest ``values``, by (value, position), in that order."""
    if len(values) > 8 * size:
        # Partial selection instead of a full sort; ties at the cut go by position, as a
        # stable sort of everything would have it.
        cut = np.partition(values, size - 1)[size - 1]
        better = np.flatnonzero(values < cut)
        tied = np.flatnonzero(values == cut)[: size - len(better)]
        keep = np.sort(np.concatenate((better, tied)))
        out: IntArray = keep[values[keep].argsort(kind="stable")]
        return out
    ranked: IntArray = values.argsort(kind="stable")[:size]
    return ranked
