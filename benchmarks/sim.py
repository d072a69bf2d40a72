"""The coverage simulation at the seed defaults: 12 weeks x 50 runs, all three policies.

``--quick`` runs 10 of the 50 runs and multiplies the time by 5 (runs are independent and
alike, so time is linear in them); the output says so. The same runs are timed once spread
over one process per core (the number with the target) and once in a single process.
"""

from __future__ import annotations

import os

from benchmarks.model import Entry
from tests.simulation import SimParams
from tests.test_scheduler_sim import simulate

FULL_RUNS = 50
TARGET_S = 2.0


def measure(quick: bool) -> list[Entry]:
    runs = 10 if quick else FULL_RUNS
    scale = FULL_RUNS / runs
    workers = os.cpu_count() or 1
    spread = simulate(SimParams(runs=runs), workers=workers)
    single = simulate(SimParams(runs=runs), workers=1)
    scaled = f"; {runs} runs timed, x{scale:g} for 50" if runs != FULL_RUNS else ""
    metrics = (
        f"coverage<=14d {spread['coverage_within_days']['14']:.4f}, "
        f"always<=14 {spread['profiles_always_within_14']:.3f}, "
        f"worst gap {spread['worst_gap_days']} d, "
        f"violations {sum(spread['violations'].values())}"
    )
    return [
        Entry(
            name="scheduler_sim_12w_x50",
            value=spread["seconds"] * scale,
            unit="s",
            target=TARGET_S,
            note=f"{workers} processes{scaled}; {metrics}",
        ),
        Entry(
            name="scheduler_sim_12w_x50_one_process",
            value=single["seconds"] * scale,
            unit="s",
            note=f"informational: the same runs in one process{scaled}",
        ),
    ]
