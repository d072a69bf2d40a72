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

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from config.settings import Settings

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


@dataclass(frozen=True)
class Pick:
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
    if any(b < 0 for b in future_budgets):
        raise ValueError(f"future_budgets must be >= 0, got {list(future_budgets)}")
    beyond = settings.WEEKLY_BUDGET_TARGET // 7
    cumulative = np.cumsum(np.asarray(list(future_budgets), dtype=np.int64))
    need = 0
    for due, deadline in enumerate(sorted(deadlines), start=1):
        ahead = (deadline - day).days  # slots on day+1 .. deadline
        if ahead <= 0:
            slots = 0
        elif ahead <= len(cumulative):
            slots = int(cumulative[ahead - 1])
        else:
            known = int(cumulative[-1]) if len(cumulative) else 0
            slots = known + beyond * (ahead - len(cumulative))
        need = max(need, due - slots)
    return need


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
    scores = _scores(ordered, rng, settings)
    score_of = {c.key: float(s) for c, s in zip(ordered, scores, strict=True)}
    by_deadline = sorted(ordered, key=lambda c: (c.deadline, c.key))

    hard_n = required_today([c.deadline for c in by_deadline], day, future_budgets, settings)
    hard = by_deadline[:hard_n]
    taken_hard = hard[:budget]
    shortfall = len(hard) - len(taken_hard)
    room = budget - len(taken_hard)
    soft_cap = min(settings.FORCE_INCLUDE_MAX_PER_DAY, room)
    soft = [
        c for c in by_deadline[hard_n:] if c.days_since > settings.FORCE_INCLUDE_DAYS_THRESHOLD
    ][:soft_cap]
    forced = taken_hard + soft

    chosen = {c.key for c in forced}
    rest = [c for c in ordered if c.key not in chosen]
    fill = _weighted_fill(rest, score_of, budget - len(forced), rng, settings)
    picks = [Pick(c.key, score_of[c.key], c.days_since, True) for c in forced]
    picks += [Pick(c.key, score_of[c.key], c.days_since, False) for c in fill]
    return DaySelection(picks=tuple(picks), forced=len(forced), shortfall=shortfall)


def _by_key(candidates: Sequence[Candidate]) -> list[Candidate]:
    return sorted(candidates, key=lambda c: c.key)


def _scores(
    ordered: Sequence[Candidate], rng: np.random.Generator, settings: Settings
) -> npt.NDArray[np.float64]:
    days = np.array([c.days_since for c in ordered], dtype=np.float64)
    base = np.minimum(days * settings.PRIORITY_DAYS_WEIGHT, settings.PRIORITY_DAYS_CAP)
    jitter = rng.uniform(0.0, settings.PRIORITY_JITTER_MAX, size=len(ordered))
    out: npt.NDArray[np.float64] = base + jitter
    return out


def _weighted_fill(
    rest: Sequence[Candidate],
    score_of: dict[str, float],
    k: int,
    rng: np.random.Generator,
    settings: Settings,
) -> list[Candidate]:
    """``k`` of ``rest`` by weighted sampling without replacement from the top-scored pool."""
    if k <= 0 or not rest:
        return []
    ranked = sorted(rest, key=lambda c: (-score_of[c.key], c.key))
    pool = ranked[: max(k, settings.SELECTION_POOL_MULTIPLIER * k)]
    if len(pool) <= k:
        return pool
    # Efraimidis-Spirakis: the k largest log(u)/w are a weighted sample without replacement
    # (the same law as sequential draws); zero weights sort last, in random order, instead
    # of making numpy's choice() raise.
    u = rng.random(len(pool))
    keyed: list[tuple[float, float, str, Candidate]] = []
    for cand, draw in zip(pool, u, strict=True):
        weight = max(score_of[cand.key], 0.0)
        es_key = math.log(draw) / weight if weight > 0 and draw > 0 else -math.inf
        keyed.append((-es_key, -draw, cand.key, cand))
    keyed.sort(key=lambda t: (t[0], t[1], t[2]))
    return [t[3] for t in keyed[:k]]
