"""CLI cold start: ``python -m planner --help`` and ``status`` as a user runs them.

Wall time of a fresh subprocess each time (the median of several), against
``python -c pass`` with the same interpreter: the interpreter's own start is the floor.
``status`` talks to the benchmark's private Redis (REDIS_URL), for an account with no plan.

Python caches compiled bytecode by default, and a user's second run uses it; an
environment that sets PYTHONDONTWRITEBYTECODE would instead recompile every dependency on
every run (seconds, not what a user sees), so that variable is removed for these runs. The
first, untimed run of each command writes the caches.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.model import Entry

ROOT = Path(__file__).resolve().parent.parent
TARGETS_S = {"help": 0.3, "status": 0.6}


def _wall(argv: list[str], env: dict[str, str], repeats: int) -> float:
    times = []
    for _ in range(repeats + 1):  # the first run warms the OS file cache; not counted
        started = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])


def measure(redis_url: str, repeats: int) -> list[Entry]:
    env = {**os.environ, "REDIS_URL": redis_url}
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    python = sys.executable
    floor = _wall([python, "-c", "pass"], env, repeats)
    entries = []
    for name, args in (("help", ["--help"]), ("status", ["status"])):
        value = _wall([python, "-m", "planner", *args], env, repeats)
        entries.append(
            Entry(
                name=f"cli_cold_start_{name}",
                value=value,
                unit="s",
                target=TARGETS_S[name],
                baseline=floor,
                baseline_what="python -c pass",
                note=f"median of {repeats} subprocess runs",
            )
        )
    return entries
