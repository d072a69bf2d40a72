"""The coverage simulation engine: the real planning core run day by day, without Redis.

Three policies run on the same random streams (the same profiles, posting activity and the
same outcome for a given profile on a given day):

* ``late_binding``: the product. The week is built on Monday and revised every morning
  from the live ledger (``planner.week.build_week`` / ``revise``).
* ``seed_static``: the seed plan as written: the whole week's picks fixed on Monday with
  the seed's scoring (force ``days_since > 12``, at most 5 a day, weighted random from the
  top 2 x budget).
* ``token_bucket_topn``: the system being replaced: hourly/daily/weekly token buckets,
  ``days_since * 10 + 15`` for profiles that posted in the last 24 h, jitter
  ``uniform(-10, 10)``, top 20 then shuffled.

Speed (tens of thousands of planning passes per full run): the ledger is kept as
``LedgerState`` tuples advanced by the product's own rule (``planner.ledger.advance``), the
planning core reads them as it reads stored entries. Only today's slots are ever bound
(``through=today``): Monday's ``build_week`` binds Monday, each later morning's ``revise``
binds that day; binding a later day earlier would be redone, unseen, on its own morning,
exactly as the product's daily revise does. Scores of the baselines are drawn as arrays
(one draw per profile, in the same order as before); the seed plan's weighted pick is
numpy's ``choice`` without its checks and set-up (``weighted_sample``: the same draws, at a
fraction of the cost on a few dozen weights). Runs are independent and spread over forked processes
(``map_runs``); the caller reduces each run where it ran.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property, lru_cache, partial
from typing import NamedTuple, TypeVar
from zoneinfo import ZoneInfo

import numpy as np

# numpy loads numpy.random on first use: loaded with this module, the forked workers share
# it instead of each loading it (~20 ms) at the start of its first run.
import numpy.random

from config.settings import Settings
from planner.budgets import sample_daily_budgets
from planner.ledger import LedgerState, advance
from planner.profiles import Profile
from planner.scoring import (
    LEGACY_DAYS_WEIGHT,
    LEGACY_JITTER,
    LEGACY_RECENCY_BONUS,
    priority_base,
)
from planner.week import build_week, revise
from planner.weekly_plan import ScheduledEngagement, Status, WeeklyPlan

START = date(2026, 1, 5)  # a Monday
NEVER = -10_000  # day index of "never engaged"
_FRESH = LedgerState()

OUTCOMES = (Status.DONE, Status.NO_POSTS, Status.ALREADY_REACTED, Status.FAILED)
"""What ``World.outcomes`` codes stand for (index -> status)."""
_DONE = Status.DONE  # per attempt: a module global reads several times faster than a member
_tuple_new = tuple.__new__  # a NamedTuple's own, minus its Python frame (Runner.attempt)

R = TypeVar("R")


@dataclass(frozen=True)
class SimParams:
    weeks: int = 12
    runs: int = 50
    failure_rate: float = 0.10
    already_reacted: float = 0.05
    no_posts_rate: float = 0.05
    profiles: int = 100
    weekly_budget: int = 80
    seed: int = 0
    dormant_rate: float = 0.0
    warmup_weeks: int = 4

    @property
    def days(self) -> int:
        return 7 * (self.weeks + self.warmup_weeks)


@dataclass
class World:
    """What is true regardless of the policy: who the profiles are, what each attempt yields."""

    profiles: list[Profile]
    initial_done: np.ndarray  # day index (negative: before the start) of the last success
    outcomes: np.ndarray  # [profile, day] -> index into OUTCOMES of an attempt that day
    posted: np.ndarray  # [profile, day] -> posted in the 24 h before that day

    @classmethod
    def create(cls, params: SimParams, rng: np.random.Generator) -> World:
        n, days = params.profiles, params.days
        initial_done = -rng.integers(1, 14, size=n)
        u = rng.random((n, days))
        f, a, p = params.failure_rate, params.already_reacted, params.no_posts_rate
        table = np.zeros((n, days), dtype=np.int8)  # OUTCOMES[0]: done
        table[u < f + a + p] = OUTCOMES.index(Status.NO_POSTS)
        table[u < f + a] = OUTCOMES.index(Status.ALREADY_REACTED)
        table[u < f] = OUTCOMES.index(Status.FAILED)
        dormant = rng.random(n) < params.dormant_rate
        table[dormant, :] = OUTCOMES.index(Status.NO_POSTS)
        activity = rng.beta(0.6, 2.0, size=n)  # a few frequent posters, many quiet ones
        posted = rng.random((n, days)) < activity[:, None]
        return cls(list(population(n)), initial_done, table, posted)

    @cached_property
    def outcome_rows(self) -> list[list[int]]:
        """``outcomes`` as lists, shared by the policies: an attempt reads one cell, and
        list lookups are cheaper than array ones."""
        rows: list[list[int]] = self.outcomes.tolist()
        return rows

    @cached_property
    def keys(self) -> list[str]:
        """Each profile's key, by index (made once, for all the policies)."""
        return [p.key for p in self.profiles]

    @cached_property
    def index(self) -> dict[str, int]:
        """Profile URL -> index. A slot carries its profile's URL as the source gave it:
        index by that, not the key."""
        return {p.linkedin_url: i for i, p in enumerate(self.profiles)}


@lru_cache(maxsize=8)
def population(n: int) -> tuple[Profile, ...]:
    """The ``n`` simulated profiles, the same in every run (they are frozen models, so
    worlds can share them; the policies see dated copies, ``Runner.profiles_today``)."""
    return tuple(
        Profile(linkedin_url=f"https://example.com/in/p{i:05d}", name=f"P{i}") for i in range(n)
    )


class Action(NamedTuple):
    day: int
    instant: datetime
    key: str
    forced: bool


@dataclass
class Trace:
    """What one policy did in one run."""

    last_done: np.ndarray
    days_since: list[np.ndarray] = field(default_factory=list)  # measured days only
    gaps: list[int] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)  # kept for the CHECKED policy only
    attempts: dict[tuple[int, str], Status] = field(default_factory=dict)  # likewise
    budgets: list[list[int]] = field(default_factory=list)
    forced: int = 0
    unreachable: set[str] = field(default_factory=set)


def day_date(index: int) -> date:
    return START + timedelta(days=index)


def morning(index: int, tz: ZoneInfo) -> datetime:
    return datetime.combine(day_date(index), time(6, 0), tzinfo=tz).astimezone(UTC)


class Calendar(NamedTuple):
    """Per day index: its date, its ISO date (a plan's day key) and its 06:00 local start."""

    dates: tuple[date, ...]
    isos: tuple[str, ...]
    mornings: tuple[datetime, ...]


@lru_cache(maxsize=8)
def calendar(days: int, tz: ZoneInfo) -> Calendar:
    """Days ``0 .. days - 1``: the same for every run and policy, so made once."""
    dates = tuple(day_date(d) for d in range(days))
    return Calendar(
        dates, tuple(d.isoformat() for d in dates), tuple(morning(d, tz) for d in range(days))
    )


class Runner:
    """Applies a policy's actions to the world and records the trace."""

    def __init__(
        self, world: World, params: SimParams, settings: Settings, *, record: bool = True
    ) -> None:
        self.world, self.params, self.settings = world, params, settings
        self.record = record  # keep every action (for the invariant checks) or only counts
        self.keys, self.index = world.keys, world.index
        self.ledger: dict[str, LedgerState] = {}
        # Profile index -> end of its latest cooldown, until a success or until end_of_day
        # has settled it (marked unreachable, or seen it end).
        self.cooling: dict[int, datetime] = {}
        self.trace = Trace(last_done=world.initial_done.copy())
        # The same memory, element by element: a memoryview reads and writes one element at
        # half the cost of numpy's item() and item assignment (the array serves whole-array
        # arithmetic, the view serves attempts).
        self.last_done = memoryview(self.trace.last_done)
        self.first_measured = 7 * params.warmup_weeks
        self.calendar = calendar(params.days + 1, settings.tz)
        self.mornings = self.calendar.mornings
        self.outcome_rows = world.outcome_rows
        self.success_at: datetime | None = None  # the instant ``success`` is the entry after
        self.success = _FRESH

    def profiles_today(self) -> list[Profile]:
        """The source's view: last engaged as of the start (the ledger knows the rest)."""
        initial = self.world.initial_done.tolist()
        at = {d: morning(d, self.settings.tz) for d in set(initial)}
        # Validated anew rather than model_copy'd: the same fields set and equal values (the
        # instants are UTC already) at about half the cost.
        return [
            Profile(linkedin_url=p.linkedin_url, name=p.name, last_engaged_at=at[d])
            for p, d in zip(self.world.profiles, initial, strict=True)
        ]

    def attempt(self, day: int, i: int, instant: datetime, forced: bool) -> Status:
        """Engage profile ``i`` at ``instant`` on ``day``: the world's outcome, into the ledger."""
        key = self.keys[i]
        outcome = OUTCOMES[self.outcome_rows[i][day]]
        trace = self.trace
        if self.record:
            trace.attempts[(day, key)] = outcome
            # Action(day, instant, key, forced) minus the NamedTuple's Python-level __new__,
            # whose frame costs more than the rest of the recording.
            trace.actions.append(_tuple_new(Action, (day, instant, key, forced)))
        if outcome is _DONE:  # which ends any cooldown
            # A success resets the entry whatever it was, so the entry after it depends on
            # the instant alone: a baseline's successes of a day (one instant) share one.
            if instant is not self.success_at:
                self.success_at = instant
                self.success = advance(_FRESH, _DONE, instant, self.settings)
            self.ledger[key] = self.success
            self.cooling.pop(i, None)
            if day >= self.first_measured and (previous := self.last_done[i]) > NEVER:
                trace.gaps.append(day - previous)
            self.last_done[i] = day
        else:
            state = self.ledger.get(key, _FRESH)
            after = self.ledger[key] = advance(state, outcome, instant, self.settings)
            if after.cooldown_until is not state.cooldown_until and after.cooldown_until:
                self.cooling[i] = after.cooldown_until  # a cooldown began
        if forced:
            trace.forced += 1
        return outcome

    def end_of_day(self, day: int) -> None:
        """Record the day's days-since; mark whoever is cooling down the next morning.

        Unreachable means in cooldown on some morning of the measured period, the first
        one included: a cooldown that began in the warm-up and ends on the first measured
        day still explains that profile's gap (the check runs from the warm-up's last day).
        """
        if day < self.first_measured - 1:
            return
        if day >= self.first_measured:
            self.trace.days_since.append(day - self.trace.last_done)
        if self.cooling:
            # Mornings only get later: a cooldown is settled the first morning it is seen,
            # marked if it is still running, forgotten if it is over.
            now = self.mornings[day + 1]
            for i, until in self.cooling.items():
                if until > now:
                    self.trace.unreachable.add(self.keys[i])
            self.cooling.clear()


def run_late_binding(runner: Runner, rng: np.random.Generator) -> Trace:
    settings, profiles = runner.settings, runner.profiles_today()
    dates, isos, mornings = runner.calendar
    attempt, index = runner.attempt, runner.index  # per slot
    plan: WeeklyPlan | None = None
    for day in range(runner.params.days):
        now = mornings[day]
        if day % 7 == 0:
            # Monday: the week's budgets and times, and today's slots bound from the same
            # ledger at the same instant a revise would use (so no revise follows).
            plan, _ = build_week(
                account="sim",
                profiles=profiles,
                ledger=runner.ledger,
                now=now,
                settings=settings,
                rng=rng,
                through=dates[day],
            )
            runner.trace.budgets.append([d.budget for d in plan.days.values()])
        else:
            assert plan is not None
            plan, _ = revise(
                plan,
                profiles=profiles,
                ledger=runner.ledger,
                now=now,
                settings=settings,
                rng=rng,
                through=dates[day],
            )
        today = plan.days.get(isos[day])
        for slot in today.engagements if today else []:
            values = slot.__dict__  # one attribute read (a model's are slow) for three fields
            if url := values["linkedin_url"]:
                _mark(slot, attempt(day, index[url], values["scheduled_at"], values["forced"]))
            else:
                _mark(slot, Status.SKIPPED)
        runner.end_of_day(day)
    return runner.trace


def _mark(slot: ScheduledEngagement, status: Status) -> None:
    """``slot.status = status``, minus the re-validation of the whole assignment (a Status
    is valid; the simulation marks over a thousand slots a run)."""
    slot.__dict__["status"] = status
    slot.__pydantic_fields_set__.add("status")


def run_seed_static(runner: Runner, rng: np.random.Generator) -> Trace:
    settings, params, trace = runner.settings, runner.params, runner.trace
    seed = SeedPlan.for_days(params.days - int(trace.last_done.min()), settings)
    attempt = runner.attempt  # per pick
    for week in range(params.weeks + params.warmup_weeks):
        first = 7 * week
        budgets = sample_daily_budgets(rng, 7, settings.WEEKLY_BUDGET_TARGET, settings).budgets
        trace.budgets.append(list(budgets))
        plan = seed.week(first, budgets, trace.last_done, rng)
        for day, (forced, sampled) in enumerate(plan, first):
            at = runner.mornings[day]
            for i in forced:
                attempt(day, i, at, True)
            for i in sampled:
                attempt(day, i, at, False)
            runner.end_of_day(day)
    return trace


@dataclass(frozen=True)
class SeedPlan:
    """The seed plan's picks: scored with ``calculate_priorities``, the first few overdue
    forced (up to the budget), the rest of the budget sampled from the best of the others."""

    settings: Settings
    base: np.ndarray  # calculate_priorities minus its jitter, by whole days since

    @classmethod
    def for_days(cls, most: int, settings: Settings) -> SeedPlan:
        """A plan for days since of at most ``most``. They are whole numbers (day indices
        apart), so the score's unjittered part is a lookup: the very floats
        ``calculate_priorities`` computes, for a fraction of its array arithmetic."""
        return cls(settings, priority_base(np.arange(most + 1, dtype=np.float64), settings))

    def week(
        self, first: int, budgets: tuple[int, ...], last_done: np.ndarray, rng: np.random.Generator
    ) -> list[tuple[list[int], list[int]]]:
        """Each day's (forced, sampled) picks, all fixed on Monday (day ``first``): a pick
        counts as a success from its day on, and is left out of the next day."""
        projected = last_done.copy()
        fresh = np.ones(len(projected), dtype=bool)  # not picked yesterday
        plan = []
        for day, budget in enumerate(budgets, first):
            forced, sampled = self.day(day, budget, projected, fresh, rng)
            plan.append((forced, sampled))
            fresh.fill(True)
            for i in forced + sampled:  # a dozen: cheaper one by one than as an index array
                fresh[i] = False
                projected[i] = day
        return plan

    def day(
        self,
        day: int,
        budget: int,
        projected: np.ndarray,
        fresh: np.ndarray,
        rng: np.random.Generator,
    ) -> tuple[list[int], list[int]]:
        settings = self.settings
        who = fresh.nonzero()[0]  # key order, as the profiles are
        days_since = day - projected[who]
        # uniform(0, max) is 0.0 + max * random() in numpy: the very floats of this product,
        # minus uniform's argument checks.
        jitter = rng.random(len(who)) * settings.PRIORITY_JITTER_MAX
        scores = self.base[days_since] + jitter
        order = ranking(scores)  # positions in ``who``
        ranked = who[order]
        overdue = (days_since > settings.FORCE_INCLUDE_DAYS_THRESHOLD)[order]
        forced_at = overdue.nonzero()[0][: min(settings.FORCE_INCLUDE_MAX_PER_DAY, budget)]
        free = np.ones(len(order), dtype=bool)
        free[forced_at] = False
        pool_at = free.nonzero()[0][: settings.SELECTION_POOL_MULTIPLIER * budget]
        forced = ranked[forced_at].tolist()
        need = min(budget - len(forced), len(pool_at))
        if not need:
            return forced, []
        weights = scores[order[pool_at]]
        chosen = weighted_sample(rng, weights / weights.sum(), need)
        pool = ranked[pool_at].tolist()
        return forced, [pool[c] for c in chosen]


def ranking(scores: np.ndarray) -> np.ndarray:
    """Positions of ``scores``, highest first; equal scores by position, last first (for
    candidates in key order: the reverse tuple sort of (score, key) the baselines had).

    The reverse of a stable ascending sort: ``np.lexsort((-positions, -scores))`` without
    the two negated copies and the second sort key (and the method, not ``np.argsort``'s
    Python-level dispatch): about a third fewer instructions on a hundred scores.
    """
    ranked: np.ndarray = scores.argsort(kind="stable")[::-1]
    return ranked


def weighted_sample(rng: np.random.Generator, p: np.ndarray, k: int) -> list[int]:
    """``rng.choice(len(p), size=k, replace=False, p=p).tolist()``, draw for draw.

    numpy's own method without its checks and set-up (which cost several times the
    sampling of a few dozen weights): inverse-CDF draws for the places still open, the
    first of any repeats kept, the chosen zeroed, until ``k`` are chosen. ``p`` must sum to
    1 with at least ``k`` positive entries (numpy raises otherwise; this would not end).
    """
    chosen: list[int] = []
    while len(chosen) < k:
        draws = rng.random(k - len(chosen))
        if chosen:  # their places close (in a copy: the caller's ``p`` stays as it was)
            p = p.copy()
            p[chosen] = 0.0
        cdf = np.add.accumulate(p)
        cdf /= cdf[-1]
        found = cdf.searchsorted(draws, "right").tolist()
        chosen.extend(dict.fromkeys(found))
    return chosen


def run_token_bucket(runner: Runner, rng: np.random.Generator) -> Trace:
    settings, trace = runner.settings, runner.trace
    scores = LegacyScores.of(runner.world, runner.params.days - int(trace.last_done.min()))
    weekly_tokens = float(settings.WEEKLY_LIMIT)
    attempt = runner.attempt  # per pick
    week: list[int] = []
    for day in range(runner.params.days):
        weekly_tokens = min(float(settings.WEEKLY_LIMIT), weekly_tokens + settings.WEEKLY_LIMIT / 7)
        daily_tokens = settings.DAILY_LIMIT
        top = ranking(scores.on(day, trace.last_done, rng))[:20].tolist()  # profile indices
        rng.shuffle(top)  # the same swaps as indexing by rng.permutation(len(top))
        attempted = 0
        at = runner.mornings[day]
        for i in top:
            if daily_tokens < 1 or weekly_tokens < 1:
                break
            outcome = attempt(day, i, at, False)
            attempted += 1
            if outcome is _DONE:  # the old engine consumed tokens on success only
                daily_tokens -= 1
                weekly_tokens -= 1
        week.append(attempted)  # its "budget" is what it did each day
        if len(week) == 7:
            trace.budgets.append(week)
            week = []
        runner.end_of_day(day)
    return trace


class LegacyScores(NamedTuple):
    """``legacy_priorities`` of every profile, ``days_since * 10 + 15 if posted`` plus the
    jitter, with the part before the jitter looked up: the days since are whole numbers
    (day indices apart), so the tables hold the very floats it computes, for a fraction
    of its array arithmetic."""

    by_days: np.ndarray  # days_since * LEGACY_DAYS_WEIGHT, by whole days since
    bonus: np.ndarray  # [day, profile]: LEGACY_RECENCY_BONUS if posted in the last 24 h

    @classmethod
    def of(cls, world: World, most: int) -> LegacyScores:
        """The tables for ``world``'s days, for days since of at most ``most``."""
        return cls(
            np.arange(most + 1, dtype=np.float64) * LEGACY_DAYS_WEIGHT,
            np.where(world.posted.T, LEGACY_RECENCY_BONUS, 0.0),
        )

    def on(self, day: int, last_done: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Every profile's score on ``day`` (one jitter draw each, in profile order)."""
        jitter = rng.uniform(-LEGACY_JITTER, LEGACY_JITTER, size=len(last_done))
        scores: np.ndarray = self.by_days[day - last_done] + self.bonus[day] + jitter
        return scores


CHECKED = "late_binding"
"""The policy whose executed actions are checked against the invariants (I1, I2, I4-I6)."""

POLICIES = {
    CHECKED: run_late_binding,
    "seed_static": run_seed_static,
    "token_bucket_topn": run_token_bucket,
}


def run_one(params: SimParams, settings: Settings, run: int) -> dict[str, Trace]:
    """The trace of every policy on run ``run``'s shared world (seeded by run number)."""
    seeds = np.random.SeedSequence([params.seed, run]).spawn(1 + len(POLICIES))
    world = World.create(params, np.random.default_rng(seeds[0]))
    return {
        name: policy(
            Runner(world, params, settings, record=name == CHECKED), np.random.default_rng(seed)
        )
        for (name, policy), seed in zip(POLICIES.items(), seeds[1:], strict=True)
    }


def run_all(
    params: SimParams, settings: Settings, workers: int = 1
) -> Iterator[tuple[int, dict[str, Trace]]]:
    """Yield, per run and in run order, the trace of every policy on that run's world.

    Runs are independent (each seeded by its number), so ``workers`` > 1 spreads them over
    forked processes; the traces, and so every metric, are the same whatever ``workers``.
    """
    yield from enumerate(map_runs(partial(run_one, params, settings), params.runs, workers))


def map_runs(task: Callable[[int], R], runs: int, workers: int = 1) -> Iterator[R]:
    """``task(run)`` for every run, in run order, spread over ``workers`` forked processes.

    ``task`` must pickle (a module-level function, or a partial of one); whatever it
    reduces a run to in the worker is work and pickling the parent is spared.
    """
    workers = min(workers, runs)
    if workers <= 1 or "fork" not in mp.get_all_start_methods():
        yield from map(task, range(runs))
        return
    # fork: the children start with everything imported and the settings built, at once.
    # One run per task: a run is tens of milliseconds, so bigger chunks only leave one
    # process idle at the end while the other finishes its last chunk.
    with mp.get_context("fork").Pool(workers) as pool:
        yield from pool.imap(task, range(runs), chunksize=1)
