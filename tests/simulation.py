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
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import numpy as np

from config.settings import Settings
from planner.budgets import sample_daily_budgets
from planner.ledger import LedgerEntry, in_cooldown, record_outcome
from planner.profiles import Profile
from planner.scoring import calculate_priority, legacy_priority
from planner.week import build_week, revise
from planner.weekly_plan import Status, WeeklyPlan

START = date(2026, 1, 5)  # a Monday
NEVER = -10_000  # day index of "never engaged"


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
    outcomes: np.ndarray  # [profile, day] -> Status value of an attempt that day
    posted: np.ndarray  # [profile, day] -> posted in the 24 h before that day

    @classmethod
    def create(cls, params: SimParams, rng: np.random.Generator) -> World:
        n, days = params.profiles, params.days
        profiles = [
            Profile(linkedin_url=f"https://example.com/in/p{i:05d}", name=f"P{i}") for i in range(n)
        ]
        initial_done = -rng.integers(1, 14, size=n)
        u = rng.random((n, days))
        f, a, p = params.failure_rate, params.already_reacted, params.no_posts_rate
        table = np.full((n, days), Status.DONE.value, dtype=object)
        table[u < f + a + p] = Status.NO_POSTS.value
        table[u < f + a] = Status.ALREADY_REACTED.value
        table[u < f] = Status.FAILED.value
        dormant = rng.random(n) < params.dormant_rate
        table[dormant, :] = Status.NO_POSTS.value
        activity = rng.beta(0.6, 2.0, size=n)  # a few frequent posters, many quiet ones
        posted = rng.random((n, days)) < activity[:, None]
        return cls(profiles, initial_done, table, posted)


@dataclass
class Action:
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
    actions: list[Action] = field(default_factory=list)
    attempts: dict[tuple[int, str], Status] = field(default_factory=dict)
    budgets: list[list[int]] = field(default_factory=list)
    forced: int = 0
    unreachable: set[str] = field(default_factory=set)


def day_date(index: int) -> date:
    return START + timedelta(days=index)


def morning(index: int, settings: Settings) -> datetime:
    return datetime.combine(day_date(index), time(6, 0), tzinfo=settings.tz).astimezone(UTC)


class Runner:
    """Applies a policy's actions to the world and records the trace."""

    def __init__(self, world: World, params: SimParams, settings: Settings) -> None:
        self.world, self.params, self.settings = world, params, settings
        self.index = {p.key: i for i, p in enumerate(world.profiles)}
        self.ledger: dict[str, LedgerEntry] = {}
        self.trace = Trace(last_done=world.initial_done.copy())

    def profiles_today(self) -> list[Profile]:
        """The source's view: last engaged as of the start (the ledger knows the rest)."""
        return [
            p.model_copy(update={"last_engaged_at": morning(int(d), self.settings)})
            for p, d in zip(self.world.profiles, self.world.initial_done, strict=True)
        ]

    def attempt(self, day: int, action: Action) -> Status:
        i = self.index[action.key]
        outcome = Status(self.world.outcomes[i, day])
        self.ledger[action.key] = record_outcome(
            self.ledger.get(action.key), outcome, action.instant, self.settings
        )
        self.trace.attempts[(day, action.key)] = outcome
        self.trace.actions.append(action)
        if outcome is Status.DONE:
            previous = int(self.trace.last_done[i])
            if day >= 7 * self.params.warmup_weeks and previous > NEVER:
                self.trace.gaps.append(day - previous)
            self.trace.last_done[i] = day
        if action.forced:
            self.trace.forced += 1
        return outcome

    def end_of_day(self, day: int) -> None:
        if day < 7 * self.params.warmup_weeks:
            return
        self.trace.days_since.append(day - self.trace.last_done)
        now = morning(day + 1, self.settings)
        for key, entry in self.ledger.items():
            if in_cooldown(entry, now):
                self.trace.unreachable.add(key)


def run_late_binding(runner: Runner, rng: np.random.Generator) -> Trace:
    settings, profiles = runner.settings, runner.profiles_today()
    plan: WeeklyPlan | None = None
    for day in range(runner.params.days):
        now = morning(day, settings)
        if day % 7 == 0:
            plan, _ = build_week(
                account="sim",
                profiles=profiles,
                ledger=runner.ledger,
                now=now,
                settings=settings,
                rng=rng,
            )
            runner.trace.budgets.append([d.budget for d in plan.days.values()])
        assert plan is not None
        plan, _ = revise(
            plan, profiles=profiles, ledger=runner.ledger, now=now, settings=settings, rng=rng
        )
        today = plan.days.get(day_date(day).isoformat())
        for slot in today.engagements if today else []:
            if not slot.linkedin_url:
                slot.status = Status.SKIPPED
                continue
            action = Action(day, slot.scheduled_at, runner_key(slot.linkedin_url), slot.forced)
            slot.status = runner.attempt(day, action)
        runner.end_of_day(day)
    return runner.trace


def run_seed_static(runner: Runner, rng: np.random.Generator) -> Trace:
    settings, params = runner.settings, runner.params
    keys = [p.key for p in runner.world.profiles]
    for week in range(params.weeks + params.warmup_weeks):
        first = 7 * week
        budgets = sample_daily_budgets(rng, 7, settings.WEEKLY_BUDGET_TARGET, settings).budgets
        runner.trace.budgets.append(list(budgets))
        projected = runner.trace.last_done.astype(float).copy()
        yesterday: set[str] = set()
        plan: list[list[tuple[str, bool]]] = []
        for offset, budget in enumerate(budgets):
            day = first + offset
            days_since = day - projected
            scored = sorted(
                (
                    (
                        calculate_priority(float(days_since[i]), rng, settings),
                        k,
                        float(days_since[i]),
                    )
                    for i, k in enumerate(keys)
                    if k not in yesterday
                ),
                reverse=True,
            )
            forced = [k for _, k, ds in scored if ds > settings.FORCE_INCLUDE_DAYS_THRESHOLD]
            forced = forced[: settings.FORCE_INCLUDE_MAX_PER_DAY][:budget]
            rest = [(s, k) for s, k, _ in scored if k not in forced][
                : settings.SELECTION_POOL_MULTIPLIER * budget
            ]
            need = min(budget - len(forced), len(rest))
            weights = np.array([s for s, _ in rest])
            chosen = (
                rng.choice(len(rest), size=need, replace=False, p=weights / weights.sum())
                if need
                else []
            )
            picks = [(k, True) for k in forced] + [(rest[int(c)][1], False) for c in chosen]
            plan.append(picks)
            yesterday = {k for k, _ in picks}
            for k, _ in picks:
                projected[runner.index[k]] = day
        for offset, picks in enumerate(plan):
            day = first + offset
            for k, was_forced in picks:
                runner.attempt(day, Action(day, morning(day, settings), k, was_forced))
            runner.end_of_day(day)
    return runner.trace


def run_token_bucket(runner: Runner, rng: np.random.Generator) -> Trace:
    settings = runner.settings
    keys = [p.key for p in runner.world.profiles]
    weekly_tokens = float(settings.WEEKLY_LIMIT)
    week: list[int] = []
    for day in range(runner.params.days):
        weekly_tokens = min(float(settings.WEEKLY_LIMIT), weekly_tokens + settings.WEEKLY_LIMIT / 7)
        daily_tokens = settings.DAILY_LIMIT
        days_since = day - runner.trace.last_done
        scores = [
            (legacy_priority(float(days_since[i]), bool(runner.world.posted[i, day]), rng), k)
            for i, k in enumerate(keys)
        ]
        top = [k for _, k in sorted(scores, reverse=True)[:20]]
        week.append(0)
        for j in rng.permutation(len(top)):
            if daily_tokens < 1 or weekly_tokens < 1:
                break
            outcome = runner.attempt(day, Action(day, morning(day, settings), top[int(j)], False))
            week[-1] += 1
            if outcome is Status.DONE:  # the old engine consumed tokens on success only
                daily_tokens -= 1
                weekly_tokens -= 1
        if len(week) == 7:  # its "budget" is what it did each day
            runner.trace.budgets.append(week)
            week = []
        runner.end_of_day(day)
    return runner.trace


def runner_key(url: str) -> str:
    from planner.profiles import profile_key

    return profile_key(url)


POLICIES = {
    "late_binding": run_late_binding,
    "seed_static": run_seed_static,
    "token_bucket_topn": run_token_bucket,
}


def run_all(params: SimParams, settings: Settings) -> Iterator[tuple[int, dict[str, Trace]]]:
    """Yield, per run, the trace of every policy on that run's shared world."""
    for run in range(params.runs):
        seeds = np.random.SeedSequence([params.seed, run]).spawn(1 + len(POLICIES))
        world = World.create(params, np.random.default_rng(seeds[0]))
        traces = {
            name: policy(Runner(world, params, settings), np.random.default_rng(seed))
            for (name, policy), seed in zip(POLICIES.items(), seeds[1:], strict=True)
        }
        yield run, traces
