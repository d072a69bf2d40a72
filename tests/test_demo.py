"""The README's main job, end to end: real rqscheduler and rq worker processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_week_runs_every_slot_without_violations(redis_url: str) -> None:
    """`demo --json` ends with every slot terminal and zero violations, measured from what ran."""
    example = (ROOT / "examples" / "profiles.csv").read_bytes()
    result = subprocess.run(
        [sys.executable, "-m", "planner", "demo", "--seconds", "20", "--json", "--seed", "3"],
        cwd=ROOT,
        env={**_env(), "REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(result.stdout)
    assert set(data) == {"slots", "outcomes", "violations", "seconds"}
    assert data["slots"] == 80
    assert sum(data["outcomes"].values()) == 80
    assert not {"pending", "claimed"} & set(data["outcomes"])
    assert data["violations"] == {"cap": 0, "min_gap": 0, "outside_hours": 0, "double_execution": 0}
    assert data["outcomes"].get("done", 0) >= 40
    assert (ROOT / "examples" / "profiles.csv").read_bytes() == example  # no write-back


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
