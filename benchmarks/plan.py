"""Plan generation, pure core: ``build_week`` for 100 .. 100,000 profiles.

Each timing is cold: fresh profile objects and an empty key cache, so nothing derived from
an earlier repetition is reused. The ledger knows a success for half of the profiles. The
baseline is the least a planner could do with the same input: one ``sorted`` of the
profiles by their last engagement (days since, most overdue first).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np

from benchmarks.model import Entry, timed
from config.settings import Settings
from planner.ledger import LedgerEntry
from planner.profiles import Profile, profile_key
from planner.week import build_week

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # a Monday before the window opens
TARGETS_S = {100: 0.010, 100_000: 1.0}
NEVER = datetime.min.replace(tzinfo=UTC)


def make_inputs(n: int, seed: int = 1) -> tuple[list[Profile], dict[str, LedgerEntry]]:
    """``n`` profiles engaged 0-20 days ago; the ledger has a later success for half."""
    rng = np.random.default_rng(seed)
    ages = rng.uniform(0, 20, n)
    profiles = [
        Profile(
            linkedin_url=f"https://www.linkedin.com/in/member-{i:06d}",
            name=f"Member {i}",
            last_engaged_at=NOW - timedelta(days=float(age)),
        )
        for i, age in enumerate(ages)
    ]
    later = timedelta(hours=20)
    ledger = {
        p.key: LedgerEntry(last_done_at=p.last_engaged_at + later)
        for p in profiles[::2]
        if p.last_engaged_at is not None and p.last_engaged_at + later < NOW
    }
    return profiles, ledger


def measure(sizes: tuple[int, ...], repeats: int, settings: Settings) -> list[Entry]:
    return [_one_size(n, repeats, settings) for n in sizes]


def _one_size(n: int, repeats: int, settings: Settings) -> Entry:
    profiles, ledger = make_inputs(n)
    fresh: list[list[Profile]] = []

    def prepare() -> None:
        fresh[:] = [[p.model_copy() for p in profiles]]
        profile_key.cache_clear()

    def plan() -> None:
        build_week(
            account="bench",
            profiles=fresh[0],
            ledger=ledger,
            now=NOW,
            settings=settings,
            rng=np.random.default_rng(7),
        )

    def sort() -> None:
        sorted(fresh[0], key=lambda p: p.last_engaged_at or NEVER)

    value = _median_cold(prepare, plan, repeats)
    baseline = _median_cold(prepare, sort, repeats)
    return Entry(
        name=f"plan_build_week_{n}_profiles",
        value=value * 1000,
        unit="ms",
        target=TARGETS_S[n] * 1000 if n in TARGETS_S else None,
        baseline=baseline * 1000,
        baseline_what="sorted(profiles) by last engagement",
        note=f"median of {repeats} cold runs (fresh profile objects, empty key cache)",
    )


def _median_cold(prepare: Callable[[], None], fn: Callable[[], None], repeats: int) -> float:
    """Median time of ``fn`` over ``repeats`` runs, each after an untimed ``prepare``."""
    prepare()
    fn()  # imports and the per-settings timing tables, once
    times = []
    for _ in range(repeats):
        prepare()
        times.append(timed(fn))
    return float(np.median(times))
