"""Planning commands: ``generate-week`` (and, with a store, ``show-plan``)."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from planner.cli.app import app
from planner.cli.common import (
    AccountOption,
    JsonOption,
    account_settings,
    fail,
    open_live,
    out_console,
    translated_errors,
)
from planner.cli.source_options import SheetOption, StrictOption, WorksheetOption, load_profiles

if TYPE_CHECKING:
    from rich.console import Console

    from config.settings import Settings
    from planner.service import StoreOutcome
    from planner.week import PlanReport

ProfilesOption = Annotated[
    Path | None,
    typer.Option(
        "--profiles", help="Profiles CSV (default: PROFILES_PATH, else examples/profiles.csv)."
    ),
]
WeekOption = Annotated[
    str | None,
    typer.Option("--week", help="ISO week (e.g. 2026-W07), 'this' or 'next' (default: this week)."),
]
SeedOption = Annotated[
    int | None,
    typer.Option(
        "--seed",
        help="Random seed; the same seed and inputs give the same plan (a days-since "
        "column counts back from the moment the command runs: dates compare runs).",
    ),
]


@app.command("generate-week")
def generate_week(
    ctx: typer.Context,
    account: AccountOption = "default",
    profiles: ProfilesOption = None,
    sheet: SheetOption = None,
    worksheet: WorksheetOption = None,
    strict: StrictOption = False,
    week: WeekOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a stored week even if slots already ran.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan; store and enqueue nothing.")
    ] = False,
    as_json: JsonOption = False,
    seed: SeedOption = None,
) -> None:
    """Plan a week: daily budgets, slot times, and a tentative profile for every slot."""
    import numpy as np  # noqa: PLC0415 - keep --help fast

    from planner.clock import system_clock  # noqa: PLC0415
    from planner.render import render_plan  # noqa: PLC0415
    from planner.service import generate  # noqa: PLC0415
    from planner.week import build_week  # noqa: PLC0415
    from planner.weekly_plan import validate_account  # noqa: PLC0415

    settings = account_settings(ctx, account)
    live = None if dry_run else open_live(ctx, account)
    now = system_clock() if live is None else live.clock()
    with translated_errors():
        validate_account(account)
        week_start = resolve_week(week, now, settings)
        if week_start is not None and week_start < this_monday(now, settings):
            fail(f"--week {week}: that week is over; plan this week or a later one")
        loaded = load_profiles(
            settings, now, profiles=profiles, sheet=sheet, worksheet=worksheet, strict=strict
        )
        rng = np.random.default_rng(seed)
        report: PlanReport | None
        if live is None:
            plan, report = build_week(
                account=account,
                profiles=loaded.profiles,
                ledger={},
                now=now,
                settings=settings,
                rng=rng,
                week_start=week_start,
            )
            action = "dry run: nothing stored"
        else:
            outcome = generate(
                live, loaded.profiles, now=now, rng=rng, week_start=week_start, force=force
            )
            plan, report = outcome.plan, outcome.report
            action = _describe(outcome)
    if as_json:
        typer.echo(json.dumps(plan.to_json(), indent=2))
        return
    console = out_console()
    render_plan(
        console,
        plan,
        start_min=minutes_of_day(settings.OPERATING_START),
        end_min=minutes_of_day(settings.OPERATING_END),
    )
    if report is not None:
        _warn(console, report)
    if not plan.days:
        console.print(
            f"[bold yellow]note:[/] week {plan.label} has no operating window left; "
            "plan the coming one with --week next"
        )
    console.print(f"{action} · {len(loaded.profiles)} profiles from {loaded.source}")


def _describe(outcome: StoreOutcome) -> str:
    label = outcome.plan.label
    if outcome.action == "exists":
        healed = f"; re-enqueued {outcome.scheduled} missing jobs" if outcome.scheduled else ""
        return f"week {label} already stored: unchanged (use --force to replace it){healed}"
    replaced = f", cancelled {outcome.cancelled} old jobs" if outcome.action == "replaced" else ""
    return f"week {label} {outcome.action}: {outcome.scheduled} jobs scheduled{replaced}"


def _warn(console: Console, report: PlanReport) -> None:
    if report.feasibility is not None and not report.feasibility.feasible:
        console.print(f"[bold yellow]warning:[/] {report.feasibility.message}")
    if report.shortfall:
        console.print(
            f"[bold yellow]warning:[/] {report.shortfall} picks needed to meet deadlines "
            "did not fit the budget"
        )
    if report.budget_shortfall:
        console.print(
            f"[bold yellow]warning:[/] {report.budget_shortfall} actions of the weekly target "
            "do not fit the remaining days' caps"
        )
    if report.unreachable:
        console.print(
            f"{len(report.unreachable)} profiles cooling down (unreachable) are not planned"
        )


def resolve_week(label: str | None, now: datetime, settings: Settings) -> date | None:
    """``None``/``this`` -> this week (planned from now on), ``next``, or an ISO week label."""
    if label is None or label == "this":
        return None
    if label == "next":
        return this_monday(now, settings) + timedelta(days=7)
    from planner.weekly_plan import parse_iso_week  # noqa: PLC0415

    return parse_iso_week(label)


def minutes_of_day(t: time) -> int:
    return t.hour * 60 + t.minute


def this_monday(now: datetime, settings: Settings) -> date:
    from planner.weekly_plan import week_monday  # noqa: PLC0415

    return week_monday(now.astimezone(settings.tz).date())
