"""Timing simulation (seed section 7.3): do sampled days look human and keep the rules?

    uv run python -m tests.test_timing_sim [--json] [--days N] [--seed S]

Samples ``--days`` consecutive days, each with ``n`` uniform in 10..20 actions, at the
default settings, with the production sampler. Prints to stderr an ASCII histogram by
local hour, inter-arrival statistics against the system being replaced (sequential
uniform 3-8 minute waits from the window start) and violation counts; ``--json`` prints
the metrics of DESIGN.md ("Metrics") to stdout. The ``test_*`` functions run a small
version under pytest.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from scipy import stats

from config.settings import Settings
from planner.timing import intensity_cdf, sample_day_times

FIRST_DAY = date(2026, 1, 5)
METRIC_KEYS = (
    "days",
    "timestamps",
    "min_gap_violations",
    "outside_window",
    "hourly_cap_violations",
    "ks_distance",
    "interarrival_cv",
    "baseline_uniform_delay_cv",
    "hourly_share",
    "seconds",
)


@dataclass
class SimResult:
    metrics: dict[str, Any]
    local_minutes: np.ndarray
    gaps_min: np.ndarray
    baseline_gaps_min: np.ndarray
    expected_share: dict[str, float] = field(default_factory=dict)


def _hours(settings: Settings) -> list[int]:
    last = settings.OPERATING_END.hour - (settings.OPERATING_END.minute == 0)
    return list(range(settings.OPERATING_START.hour, last + 1))


def _cv(values: np.ndarray) -> float:
    return float(np.std(values) / np.mean(values)) if values.size else float("nan")


def simulate(days: int = 1000, seed: int = 7, settings: Settings | None = None) -> SimResult:
    """Sample ``days`` days and measure them with checks independent of the sampler."""
    s = settings or Settings(_env_file=None)
    tz = s.tz
    # Separate streams, so the baseline never shifts the sampled days.
    plan_seq, baseline_seq = np.random.SeedSequence(seed).spawn(2)
    plan_rng, baseline_rng = np.random.default_rng(plan_seq), np.random.default_rng(baseline_seq)
    gap = timedelta(minutes=s.TIMING_MIN_GAP_MINUTES)
    hour = timedelta(hours=1)
    start_clock = time.perf_counter()
    minutes: list[float] = []
    gaps: list[float] = []
    baseline: list[float] = []
    counts = {"min_gap": 0, "outside": 0, "cap": 0, "timestamps": 0}
    for k in range(days):
        day = FIRST_DAY + timedelta(days=k)
        n = int(plan_rng.integers(10, 21))
        times = sample_day_times(plan_rng, n, day, s)
        counts["timestamps"] += len(times)
        for i, t in enumerate(times):
            local = t.astimezone(tz)
            if local.date() != day or not s.OPERATING_START <= local.time() < s.OPERATING_END:
                counts["outside"] += 1
            midnight = datetime.combine(day, datetime.min.time())
            minutes.append((local.replace(tzinfo=None) - midnight) / timedelta(minutes=1))
            if i >= 1:
                counts["min_gap"] += t - times[i - 1] < gap
                gaps.append((t - times[i - 1]) / timedelta(minutes=1))
            if i >= s.HOURLY_LIMIT:
                counts["cap"] += t - times[i - s.HOURLY_LIMIT] < hour
        # The replaced system: a uniform 3-8 minute wait before each action.
        baseline.extend(baseline_rng.uniform(3.0, 8.0, size=n - 1).tolist())
    local_minutes = np.array(minutes)
    cdf = intensity_cdf(s)
    hours = _hours(s)
    share = {f"{h:02d}": float(np.mean(local_minutes // 60 == h)) for h in hours}
    expected = {
        f"{h:02d}": float(cdf(np.array([60.0 * (h + 1)]))[0] - cdf(np.array([60.0 * h]))[0])
        for h in hours
    }
    metrics: dict[str, Any] = {
        "days": days,
        "timestamps": counts["timestamps"],
        "min_gap_violations": counts["min_gap"],
        "outside_window": counts["outside"],
        "hourly_cap_violations": counts["cap"],
        "ks_distance": round(float(stats.kstest(local_minutes, cdf).statistic), 5),
        "interarrival_cv": round(_cv(np.array(gaps)), 4),
        "baseline_uniform_delay_cv": round(_cv(np.array(baseline)), 4),
        "hourly_share": {h: round(v, 4) for h, v in share.items()},
        "seconds": round(time.perf_counter() - start_clock, 3),
    }
    return SimResult(metrics, local_minutes, np.array(gaps), np.array(baseline), expected)


def _describe(gaps: np.ndarray) -> str:
    q = np.percentile(gaps, [5, 50, 95])
    return (
        f"mean {gaps.mean():6.1f}  std {gaps.std():6.1f}  cv {_cv(gaps):5.2f}  "
        f"min {gaps.min():5.1f}  p5 {q[0]:5.1f}  p50 {q[1]:5.1f}  p95 {q[2]:6.1f}  "
        f"max {gaps.max():6.1f}"
    )


def report(result: SimResult) -> str:
    """The human summary: hourly histogram, inter-arrival statistics, violations."""
    m = result.metrics
    lines = [f"timing simulation: {m['days']} days, {m['timestamps']} timestamps", ""]
    lines.append("timestamps by local hour (share; '|' = configured intensity)")
    top = max(m["hourly_share"].values())
    for h, share in m["hourly_share"].items():
        bar = "#" * round(50 * share / top)
        mark = round(50 * result.expected_share[h] / top)
        row = bar.ljust(max(mark + 1, len(bar)))
        row = row[:mark] + "|" + row[mark + 1 :]
        lines.append(f"  {h}:00 {share:6.1%} {row}")
    lines += ["", "inter-arrival minutes"]
    lines.append(f"  sampled          {_describe(result.gaps_min)}")
    lines.append(f"  uniform 3-8 min  {_describe(result.baseline_gaps_min)}")
    edges = [0, 5, 10, 20, 40, 80, 160, np.inf]
    lines.append("  bucket (min)     sampled  baseline")
    for lo, hi in itertools.pairwise(edges):
        a = np.mean((result.gaps_min >= lo) & (result.gaps_min < hi))
        b = np.mean((result.baseline_gaps_min >= lo) & (result.baseline_gaps_min < hi))
        lines.append(f"  {lo:>4}-{hi:<6}      {a:7.1%}  {b:7.1%}")
    lines += [
        "",
        f"KS distance to the configured intensity: {m['ks_distance']:.4f}",
        f"violations: min gap {m['min_gap_violations']}, outside window "
        f"{m['outside_window']}, hourly cap {m['hourly_cap_violations']}",
        f"{m['seconds']:.2f} s",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.test_timing_sim")
    parser.add_argument("--days", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    args = parser.parse_args(argv)
    result = simulate(args.days, args.seed)
    print(report(result), file=sys.stderr)
    if args.json:
        print(json.dumps(result.metrics, indent=2))
    violations = sum(
        result.metrics[k] for k in ("min_gap_violations", "outside_window", "hourly_cap_violations")
    )
    return 1 if violations else 0


@pytest.fixture(scope="module")
def small_run() -> SimResult:
    """A 300-day run shared by the checks below."""
    return simulate(days=300, seed=11)


def test_no_violations(small_run: SimResult) -> None:
    """No sampled time breaks the gap, the window or the hourly cap."""
    m = small_run.metrics
    assert (m["min_gap_violations"], m["outside_window"], m["hourly_cap_violations"]) == (0, 0, 0)


def test_times_follow_the_intensity(small_run: SimResult) -> None:
    """Pooled local times stay within the KS threshold of the configured intensity."""
    assert small_run.metrics["ks_distance"] <= 0.03


def test_interarrivals_are_irregular(small_run: SimResult) -> None:
    """Inter-arrival times vary far more than the 3-8 minute uniform baseline."""
    m = small_run.metrics
    assert m["interarrival_cv"] >= 0.7
    assert m["baseline_uniform_delay_cv"] < 0.3


def test_peaks_mid_morning_and_early_afternoon(small_run: SimResult) -> None:
    """The four busiest hours are 10-12 and 13-15."""
    share = small_run.metrics["hourly_share"]
    assert set(sorted(share, key=share.get)[-4:]) == {"10", "11", "13", "14"}


def test_json_has_exactly_the_metric_keys(capsys: pytest.CaptureFixture[str]) -> None:
    """``--json`` prints exactly the documented keys to stdout and exits 0."""
    assert main(["--json", "--days", "20", "--seed", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert tuple(out) == METRIC_KEYS
    assert out["days"] == 20


if __name__ == "__main__":
    raise SystemExit(main())
