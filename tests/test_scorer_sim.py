"""Priority score analysis (seed section 7.2): one day's selection, re-rolled many times.

    uv run python -m tests.test_scorer_sim [--json] [--runs N] [--seed S] [--budget B]

The population: 100 synthetic profiles whose days since the last success spread over 0..20
like a running system with a few stragglers (92 spread evenly over 0..12 days, the rest one
each at 13, 14, ... days, i.e. past FORCE_INCLUDE_DAYS_THRESHOLD, most of them overdue).
A quarter of them post often (within 24 h with probability 0.7, the others 0.1); only the
replaced formula looks at that. Each run re-rolls the jitter (and who posted) and selects
one day of ``--budget`` profiles (default: the mean daily budget, WEEKLY_BUDGET_TARGET // 7)
with the same ``planner.scoring.select_for_day`` the planner uses.

``--json`` prints exactly these keys:

* ``runs``
* ``selection_frequency``: days-since bucket -> share of runs in which a profile of that
  bucket was picked (mean over the bucket's profiles)
* ``score_stats``: bucket -> mean / std / min / max of the coverage-first score
* ``forced_trigger_rate``: share of the picks that forced inclusion made (hard + soft)
* ``stragglers_caught``: share of (run, profile past the force threshold) pairs picked;
  1.0 whenever the budget holds them all
* ``old_vs_new``: concentration of selection counts (Gini over profiles) and related
  figures for the replaced formula (top 20 then shuffle; also top ``budget``) and the new one
* ``seconds``

Human-readable tables go to stderr. A single-day snapshot measures how a day is chosen, not
coverage over weeks (that is ``tests.test_scheduler_sim``): with a fixed population the
coverage-first rule keeps choosing the same overdue profiles, which is the point of it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from config.settings import Settings
from planner.scoring import Candidate, legacy_priority, score_all_profiles, select_for_day

DAY = date(2026, 2, 9)
N_PROFILES = 100
DEFAULT_STRAGGLERS = 8
LEGACY_TOP_N = 20
ACTIVE_POST_PROB = 0.7
QUIET_POST_PROB = 0.1
KEYS = (
    "runs",
    "selection_frequency",
    "score_stats",
    "forced_trigger_rate",
    "stragglers_caught",
    "old_vs_new",
    "seconds",
)


@dataclass(frozen=True)
class SimProfile:
    key: str
    days_since: float
    post_prob: float


def build_population(settings: Settings, stragglers: int = DEFAULT_STRAGGLERS) -> list[SimProfile]:
    """``N_PROFILES`` profiles: most within the threshold, ``stragglers`` one per day past it."""
    regular = N_PROFILES - stragglers
    threshold = settings.FORCE_INCLUDE_DAYS_THRESHOLD
    days = [threshold * i / max(regular - 1, 1) for i in range(regular)]
    days += [float(threshold + 1 + i) for i in range(stragglers)]
    return [
        SimProfile(f"p{i:03d}", d, ACTIVE_POST_PROB if i % 4 == 0 else QUIET_POST_PROB)
        for i, d in enumerate(days)
    ]


def candidates_of(population: Sequence[SimProfile], settings: Settings) -> list[Candidate]:
    # A fraction of a day counts as a whole one: the deadline errs early, never late.
    return [
        Candidate(
            p.key,
            p.days_since,
            DAY + timedelta(days=settings.COVERAGE_GUARANTEE_DAYS - math.ceil(p.days_since)),
        )
        for p in population
    ]


def gini(counts: npt.NDArray[np.float64]) -> float:
    """Gini coefficient of non-negative counts (0: everyone equally often)."""
    x = np.sort(np.asarray(counts, dtype=np.float64))
    if x.sum() == 0:
        return 0.0
    n = len(x)
    ranks = np.arange(1, n + 1)
    return float(((2 * ranks - n - 1) * x).sum() / (n * x.sum()))


def run(
    runs: int = 1000,
    seed: int = 7,
    *,
    budget: int | None = None,
    stragglers: int = DEFAULT_STRAGGLERS,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Run the analysis and return the metrics (the ``--json`` document)."""
    started = time.perf_counter()
    settings = settings or Settings(_env_file=None)
    mean_daily = settings.WEEKLY_BUDGET_TARGET // 7
    budget = mean_daily if budget is None else budget
    population = build_population(settings, stragglers)
    candidates = candidates_of(population, settings)
    index = {p.key: i for i, p in enumerate(population)}
    days = np.array([p.days_since for p in population])
    post_prob = np.array([p.post_prob for p in population])
    straggler = days > settings.FORCE_INCLUDE_DAYS_THRESHOLD
    rng = np.random.default_rng(seed)

    new_counts = np.zeros(N_PROFILES)
    old_counts = np.zeros(N_PROFILES)
    old_budget_counts = np.zeros(N_PROFILES)
    scores = np.zeros((runs, N_PROFILES))
    forced = picks = shortfall = 0
    # Today's budget is the one under study; the days after it bring the mean.
    future = [mean_daily] * (2 * settings.COVERAGE_GUARANTEE_DAYS)
    for r in range(runs):
        for sc in score_all_profiles(candidates, rng, settings):
            scores[r, index[sc.candidate.key]] = sc.score
        sel = select_for_day(
            candidates, budget, day=DAY, future_budgets=future, rng=rng, settings=settings
        )
        for p in sel.picks:
            new_counts[index[p.key]] += 1
        forced += sel.forced
        picks += len(sel.picks)
        shortfall += sel.shortfall
        posted = rng.random(N_PROFILES) < post_prob
        legacy = np.array(
            [legacy_priority(d, bool(p), rng) for d, p in zip(days, posted, strict=True)]
        )
        # Top-N by score; the old system's shuffle only reorders the day, not who is in it.
        order = sorted(range(N_PROFILES), key=lambda i: (-legacy[i], i))
        old_counts[rng.permutation(order[:LEGACY_TOP_N])] += 1
        old_budget_counts[order[:budget]] += 1

    buckets = np.floor(days).astype(int)
    selection_frequency: dict[str, float] = {}
    score_stats: dict[str, dict[str, float]] = {}
    for b in sorted(set(buckets.tolist())):
        members = buckets == b
        selection_frequency[str(b)] = round(float(new_counts[members].mean() / runs), 4)
        s = scores[:, members]
        score_stats[str(b)] = {
            "mean": round(float(s.mean()), 3),
            "std": round(float(s.std()), 3),
            "min": round(float(s.min()), 3),
            "max": round(float(s.max()), 3),
        }

    def summary(counts: npt.NDArray[np.float64], per_run: int) -> dict[str, Any]:
        total = counts.sum()
        return {
            "picks_per_run": per_run,
            "gini": round(gini(counts), 4),
            "gini_if_always_same": round(1 - per_run / N_PROFILES, 4),
            "profiles_ever_picked": int((counts > 0).sum()),
            "active_poster_share_of_picks": round(
                float(counts[post_prob == ACTIVE_POST_PROB].sum() / total) if total else 0.0, 4
            ),
            "stragglers_caught": _caught(counts, straggler, runs),
        }

    return {
        "runs": runs,
        "selection_frequency": selection_frequency,
        "score_stats": score_stats,
        "forced_trigger_rate": round(forced / picks, 4) if picks else 0.0,
        "stragglers_caught": _caught(new_counts, straggler, runs),
        "old_vs_new": {
            "budget": budget,
            "active_poster_share_of_profiles": round(
                float((post_prob == ACTIVE_POST_PROB).mean()), 4
            ),
            "old_top20": summary(old_counts, LEGACY_TOP_N),
            "old_top_budget": summary(old_budget_counts, budget),
            "new": summary(new_counts, budget) | {"shortfall_per_run": shortfall / runs},
        },
        "seconds": round(time.perf_counter() - started, 3),
    }


def _caught(counts: npt.NDArray[np.float64], straggler: npt.NDArray[np.bool_], runs: int) -> float:
    if not straggler.any() or runs == 0:
        return 1.0
    return round(float(counts[straggler].sum() / (straggler.sum() * runs)), 4)


def render(result: dict[str, Any]) -> None:
    """Human-readable tables on stderr."""
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    table = Table(title=f"Selection and scores per days-since bucket ({result['runs']} runs)")
    for col in ("days", "picked", "score mean", "std", "min", "max"):
        table.add_column(col, justify="right")
    for bucket, freq in result["selection_frequency"].items():
        st = result["score_stats"][bucket]
        table.add_row(
            bucket,
            f"{freq:.1%}",
            *(f"{st[k]:.2f}" for k in ("mean", "std", "min", "max")),
        )
    console.print(table)
    cmp = result["old_vs_new"]
    versus = Table(title=f"Old vs new (budget {cmp['budget']} a day)")
    versus.add_column("")
    names = ("old_top20", "old_top_budget", "new")
    for name in names:
        versus.add_column(name, justify="right")
    for field in cmp["new"]:
        if field in cmp["old_top20"]:
            versus.add_row(field, *(str(cmp[name][field]) for name in names))
    console.print(versus)
    console.print(
        f"forced inclusion made {result['forced_trigger_rate']:.1%} of the picks; "
        f"stragglers caught {result['stragglers_caught']:.1%}; "
        f"active posters are {cmp['active_poster_share_of_profiles']:.0%} of profiles; "
        f"{result['seconds']:.2f} s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.test_scorer_sim", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--budget", type=int, default=None, help="picks a day (default 80 // 7)")
    parser.add_argument("--stragglers", type=int, default=DEFAULT_STRAGGLERS)
    args = parser.parse_args(argv)
    if args.runs < 1 or not 0 <= args.stragglers <= N_PROFILES:
        parser.error("--runs must be >= 1 and --stragglers within 0..100")
    result = run(args.runs, args.seed, budget=args.budget, stragglers=args.stragglers)
    render(result)
    if args.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0


# ---- quick pytest checks (small runs) ------------------------------------------------------


def test_json_has_exactly_the_metric_keys() -> None:
    """The metrics document has exactly the keys DESIGN.md lists."""
    assert tuple(run(runs=20, seed=1)) == KEYS


def test_stragglers_caught_when_budget_allows() -> None:
    """Every profile past the force threshold is picked when the budget holds them all."""
    for budget in (8, 11, 20):
        assert run(runs=50, seed=2, budget=budget)["stragglers_caught"] == 1.0


def test_stragglers_short_budget_is_reported() -> None:
    """A budget smaller than the overdue profiles catches fewer and says so in shortfall."""
    result = run(runs=20, seed=3, budget=5)
    assert result["stragglers_caught"] < 1.0
    assert result["old_vs_new"]["new"]["shortfall_per_run"] == 2.0


def test_same_seed_same_metrics() -> None:
    """The analysis is reproducible for a seed (apart from the elapsed seconds)."""
    a, b = run(runs=30, seed=4), run(runs=30, seed=4)
    a.pop("seconds")
    b.pop("seconds")
    assert a == b


def test_cli_json_prints_only_json(capsys: Any) -> None:
    """--json writes one JSON document to stdout and the tables to stderr."""
    assert main(["--json", "--runs", "10", "--seed", "5"]) == 0
    out = capsys.readouterr()
    assert tuple(json.loads(out.out)) == KEYS
    assert "Selection" in out.err


if __name__ == "__main__":
    raise SystemExit(main())
