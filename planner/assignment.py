"""Who fills which slot: coverage-first selection over several days, projecting forward.

Shared by week assembly (Monday: every slot is open) and ``revise`` (each morning: only
the slots that have not run yet are open). A profile picked for an earlier day counts as
engaged at that slot's time when the later days are chosen, so Tuesday's picks already
respect "not engaged successfully yesterday" (I5) and the coverage clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np

from config.settings import Settings
from planner.ledger import NEVER_ENGAGED_DAYS, LedgerEntry, in_cooldown, last_done
from planner.profiles import Profile
from planner.scoring import Candidate, Pick, select_for_day

DayOfFn = Callable[[datetime], date]
"""Local calendar date of an instant in the account's time zone."""

# Beyond the planned days the selection needs to know how many slots are coming, to decide
# who can still wait; the average daily budget is the honest guess.
LOOKAHEAD_DAYS = 14


@dataclass(frozen=True)
class OpenDay:
    """A day with the instants of its open slots, and who may not be picked on it."""

    day: date
    instants: Sequence[datetime]
    day_start: datetime  # the window's start: days_since is measured from here
    blocked: frozenset[str] = frozenset()  # e.g. attempted or in flight today


@dataclass
class DayAssignment:
    day: date
    picks: list[Pick | None]  # one per open instant, in the same order; None: unfilled
    forced: int = 0
    shortfall: int = 0


@dataclass
class Coverage:
    """The projected state of every profile while days are being filled."""

    profiles: dict[str, Profile]
    last_done_at: dict[str, datetime | None]
    ledger: Mapping[str, LedgerEntry]
    projected: dict[str, datetime] = field(default_factory=dict)

    @classmethod
    def from_ledger(
        cls, profiles: Sequence[Profile], ledger: Mapping[str, LedgerEntry]
    ) -> Coverage:
        by_key = {p.key: p for p in profiles}
        return cls(
            profiles=by_key,
            last_done_at={k: last_done(p, ledger.get(k)) for k, p in by_key.items()},
            ledger=ledger,
        )

    def done_at(self, key: str) -> datetime | None:
        return self.projected.get(key) or self.last_done_at[key]

    def eligible(self, key: str, day: date, day_start: datetime, day_of: DayOfFn) -> bool:
        profile = self.profiles[key]
        if not profile.active or in_cooldown(self.ledger.get(key), day_start):
            return False
        when = self.done_at(key)
        # I5: engaged successfully yesterday (or already today) -> not today.
        return when is None or day_of(when) < day - timedelta(days=1)


def assign_days(
    days: Sequence[OpenDay],
    coverage: Coverage,
    *,
    settings: Settings,
    rng: np.random.Generator,
    day_of: DayOfFn,
) -> list[DayAssignment]:
    """Fill the open slots of ``days`` (in date order), projecting each pick forward."""
    mean_daily = max(1, round(settings.WEEKLY_BUDGET_TARGET / 7))
    out: list[DayAssignment] = []
    for position, open_day in enumerate(days):
        budget = len(open_day.instants)
        if budget == 0:
            out.append(DayAssignment(open_day.day, []))
            continue
        candidates = [
            _candidate(key, open_day, coverage, settings, day_of)
            for key in sorted(coverage.profiles)
            if key not in open_day.blocked
            and coverage.eligible(key, open_day.day, open_day.day_start, day_of)
        ]
        future = [len(d.instants) for d in days[position + 1 :]]
        future += [mean_daily] * LOOKAHEAD_DAYS
        selection = select_for_day(
            candidates, budget, day=open_day.day, future_budgets=future, rng=rng, settings=settings
        )
        picks: list[Pick | None] = list(selection.picks)
        picks += [None] * (budget - len(picks))
        order = rng.permutation(budget)
        placed: list[Pick | None] = [picks[i] for i in order]
        for pick, instant in zip(placed, open_day.instants, strict=True):
            if pick is not None:
                coverage.projected[pick.key] = instant
        out.append(DayAssignment(open_day.day, placed, selection.forced, selection.shortfall))
    return out


def _candidate(
    key: str, open_day: OpenDay, coverage: Coverage, settings: Settings, day_of: DayOfFn
) -> Candidate:
    when = coverage.done_at(key)
    if when is None:
        days_since = NEVER_ENGAGED_DAYS
        deadline = open_day.day
    else:
        days_since = max(0.0, (open_day.day_start - when).total_seconds() / 86_400)
        deadline = day_of(when) + timedelta(days=settings.COVERAGE_GUARANTEE_DAYS)
    return Candidate(key=key, days_since=days_since, deadline=deadline)
