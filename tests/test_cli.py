"""The CLI through Typer's runner, against the session's real Redis."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from planner.cli.app import _register, app

_register()
runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "profiles.csv"


def invoke(redis_url: str, *args: str, **env: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"REDIS_URL": redis_url, **env})
    return result.exit_code, result.output


def snapshot(client: redis.Redis) -> dict[bytes, bytes | None]:
    return {key: client.dump(key) for key in sorted(client.keys("eng:*"))}


def test_help_lists_every_command() -> None:
    """`--help` names the commands the README documents."""
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("generate-week", "show-plan", "status", "schedule", "batch", "demo", "worker"):
        assert name in result.output


def test_dry_run_json_is_the_seed_plan_object(redis_url: str, redis_client: redis.Redis) -> None:
    """`generate-week --dry-run --json` prints the plan object and stores nothing."""
    code, out = invoke(
        redis_url,
        "generate-week",
        "--dry-run",
        "--json",
        "--week",
        "next",
        "--profiles",
        str(EXAMPLES),
        "--seed",
        "1",
    )
    assert code == 0, out
    plan = json.loads(out)
    assert plan["total_budget"] == 80 and len(plan["days"]) == 7
    assert {"budget", "is_burst_day", "completed", "engagements"} <= set(
        plan["days"][min(plan["days"])]
    )
    assert not redis_client.keys("eng:*")


def dated_examples(tmp_path: Path) -> Path:
    """The example profiles with each days-since turned into a fixed date.

    A days-since cell counts back from the moment the command runs, so two runs a second
    apart read different last engagements (and scores): not the same inputs.
    """
    with EXAMPLES.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert any(row["days_since_last_like"] for row in rows)  # the case this guards against
    anchor = datetime(2026, 1, 1, 9, tzinfo=UTC)
    for row in rows:
        if days := row.pop("days_since_last_like"):
            row["last_like_date"] = (anchor - timedelta(days=float(days))).isoformat()
    out = tmp_path / "dated.csv"
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out


def test_same_seed_same_dry_run(redis_url: str, tmp_path: Path) -> None:
    """Two dry runs with one seed and the same dated profiles print the same plan (I8)."""
    args = ("generate-week", "--dry-run", "--json", "--week", "next", "--seed", "4")
    profiles = ("--profiles", str(dated_examples(tmp_path)))
    first, second = invoke(redis_url, *args, *profiles), invoke(redis_url, *args, *profiles)
    assert first[0] == second[0] == 0, first[1] + second[1]
    a, b = json.loads(first[1]), json.loads(second[1])
    a.pop("created_at"), b.pop("created_at")
    assert a == b
    other = json.loads(invoke(redis_url, *args[:-1], "5", *profiles)[1])
    other.pop("created_at")
    assert other != a  # the seed reaches the plan


def test_generate_store_show_and_status(redis_url: str, redis_client: redis.Redis) -> None:
    """A stored week shows in show-plan and status; generating again changes nothing."""
    code, out = invoke(redis_url, "generate-week", "--week", "next", "--profiles", str(EXAMPLES))
    assert code == 0, out
    assert "created" in out
    before = snapshot(redis_client)
    code, out = invoke(redis_url, "generate-week", "--week", "next", "--profiles", str(EXAMPLES))
    assert code == 0 and "unchanged" in out
    assert snapshot(redis_client) == before
    code, out = invoke(redis_url, "show-plan", "--week", "next", "--json")
    assert code == 0
    assert json.loads(out)["total_budget"] == 80
    code, out = invoke(redis_url, "show-plan", "--week", "next")
    assert code == 0 and "budget" in out
    code, out = invoke(redis_url, "status", "--json")
    status = json.loads(out)
    assert code == 1 and status["healthy"] is False  # this week has no plan, only next week
    assert "no plan" in status["problems"][0]


def test_status_is_healthy_with_a_plan(redis_url: str) -> None:
    """With this week planned, status exits 0 and reports counters and the next slot."""
    assert invoke(redis_url, "generate-week", "--profiles", str(EXAMPLES))[0] == 0
    code, out = invoke(redis_url, "status", "--json")
    data = json.loads(out)
    assert code == 0, out
    assert set(data["counters"]) == {"hourly", "daily", "weekly"}


def test_bad_rows_are_named_and_strict_refuses(tmp_path: Path, redis_url: str) -> None:
    """Bad rows are skipped with their row numbers; --strict exits non-zero naming them."""
    csv = tmp_path / "p.csv"
    csv.write_text(
        "linkedin_url,name,days_since_last_like\n"
        "https://example.com/in/a,A,3\n"
        "not a url,B,2\n"
        "https://example.com/in/c,C,-4\n",
        encoding="utf-8",
    )
    code, out = invoke(redis_url, "generate-week", "--dry-run", "--profiles", str(csv))
    assert code == 0
    assert "2 rows skipped" in out
    code, out = invoke(redis_url, "generate-week", "--dry-run", "--strict", "--profiles", str(csv))
    assert code == 2
    assert " 3 " in out and " 4 " in out


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("generate-week", "--dry-run", "--week", "2026-W99"), "2026-W99"),
        (("generate-week", "--dry-run", "--profiles", "/nonexistent.csv"), "nonexistent.csv"),
        (("generate-week", "--dry-run", "--account", "bad:name"), "bad:name"),
        (("show-plan", "--day", "tuesday"), "tuesday"),
    ],
)
def test_bad_arguments_exit_2_naming_the_input(
    redis_url: str, redis_client: redis.Redis, args: tuple[str, ...], fragment: str
) -> None:
    """Bad input gets a clear message naming it, exit code 2, and no stored change."""
    before = snapshot(redis_client)
    code, out = invoke(redis_url, *args)
    assert code in (1, 2), out
    assert fragment in out
    assert snapshot(redis_client) == before


def test_contradictory_settings_are_refused(redis_url: str) -> None:
    """A contradiction in the environment stops the command, naming both settings."""
    code, out = invoke(redis_url, "generate-week", "--dry-run", DAILY_BUDGET_MAX="30")
    assert code == 2
    assert "DAILY_BUDGET_MAX=30" in out and "DAILY_LIMIT=20" in out


def test_unreachable_redis_exits_3(redis_url: str) -> None:
    """A Redis that does not answer is reported as such with exit code 3."""
    code, out = invoke("redis://127.0.0.1:1/0", "show-plan")
    assert code == 3
    assert "unreachable" in out


def test_resume_and_batch_dry_run(redis_url: str, redis_client: redis.Redis) -> None:
    """resume with no pause says so; batch --dry-run changes nothing."""
    assert invoke(redis_url, "generate-week", "--profiles", str(EXAMPLES))[0] == 0
    code, out = invoke(redis_url, "resume")
    assert code == 0 and "not paused" in out
    before = snapshot(redis_client)
    code, out = invoke(redis_url, "batch", "--dry-run", "--limit", "3")
    assert code == 0
    assert snapshot(redis_client) == before


def test_outcomes_are_written_back_by_sync(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    """An executed slot's outcome reaches the CSV through `sync`, and the queue empties."""
    import numpy as np

    from config.settings import Settings
    from planner import outbox
    from planner.service import Live
    from worker.execute import execute_slot
    from worker.handlers import DryRunHandler

    csv = tmp_path / "profiles.csv"
    csv.write_bytes(EXAMPLES.read_bytes())
    env = {"PROFILES_PATH": str(csv)}
    assert invoke(redis_url, "generate-week", "--week", "next", **env)[0] == 0
    settings = Settings(_env_file=None, PROFILES_PATH=csv)  # type: ignore[call-arg]
    live = Live.connect(redis_client, settings, "default")
    week = live.store.list_weeks("default")[0]
    plan = live.store.load_week("default", week)
    assert plan is not None
    slot = next(s for s in plan.slots() if s.linkedin_url)
    live.clock.install(slot.scheduled_at, 1.0)
    result = execute_slot(live, DryRunHandler(), np.random.default_rng(1), slot.slot_id)
    assert result.status == "done"
    assert outbox.pending(redis_client, "default") == 1
    code, out = invoke(redis_url, "sync", **env)
    assert code == 0, out
    assert "1 outcomes written" in out
    assert outbox.pending(redis_client, "default") == 0
    row = next(line for line in csv.read_text().splitlines() if slot.linkedin_url in line)
    assert "done" in row and slot.scheduled_at.date().isoformat() in row


HEAVY = ("numpy", "scipy", "gspread", "rq", "rq_scheduler", "planner.week", "planner.sources")
HELP_HEAVY = (*HEAVY, "rich", "markdown_it", "pydantic", "redis")
"""Listing the commands needs none of what running them needs (help is plain click text)."""
REPORT_MODULES = """
import atexit, runpy, sys
heavy = {heavy!r}
atexit.register(lambda: print("loaded:", *[m for m in heavy if m in sys.modules], file=sys.stderr))
sys.argv = ["planner", *{args!r}]
runpy.run_module("planner", run_name="__main__")
"""


def loaded_modules(
    redis_url: str, *args: str, heavy: tuple[str, ...] = HEAVY
) -> tuple[int, list[str]]:
    """Run ``python -m planner ARGS`` in a fresh interpreter; which ``heavy`` modules it loaded."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("PROFILES_PATH", "ACCOUNTS_FILE")}
    result = subprocess.run(
        [sys.executable, "-c", REPORT_MODULES.format(heavy=heavy, args=list(args))],
        env={**env, "REDIS_URL": redis_url},
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    line = next(ln for ln in result.stderr.splitlines() if ln.startswith("loaded:"))
    return result.returncode, line.split()[1:]


def test_status_and_help_load_no_planning_core_rq_or_sheets(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """Cold start (issue 6): status reads Redis only, so numpy, scipy, rq and gspread stay out.

    Checked on the real path: a stored week with a claimed slot, so status also judges
    that slot's job alive (the delayed-job and liveness reads) before reporting.
    """
    from config.settings import Settings
    from planner.live import Live
    from planner.weekly_plan import week_monday

    assert invoke(redis_url, "generate-week", "--profiles", str(EXAMPLES))[0] == 0
    live = Live.connect(redis_client, Settings(_env_file=None), "default")  # type: ignore[call-arg]
    plan = live.store.load_week("default", week_monday(live.today(live.clock())))
    if plan is not None and plan.days:  # this week still has an operating window left
        slot = next(s for s in plan.slots() if s.is_open)
        assert live.store.claim_slot("default", slot.slot_id, live.clock())
    code, loaded = loaded_modules(redis_url, "status", "--json")
    assert code in (0, 1)
    assert loaded == []
    code, loaded = loaded_modules(redis_url, "--help", heavy=HELP_HEAVY)
    assert code == 0 and loaded == []
