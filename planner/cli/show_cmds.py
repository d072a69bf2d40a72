"""Read-only commands: ``show-plan`` and ``status``."""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import typer

from planner.cli.app import app
from planner.cli.common import (
    AccountOption,
    JsonOption,
    fail,
    obj,
    open_live,
    out_console,
    translated_errors,
)
from planner.cli.plan_cmds import WeekOption, minutes_of_day, resolve_week, this_monday

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text


@app.command("show-plan")
def show_plan(
    ctx: typer.Context,
    account: AccountOption = "default",
    week: WeekOption = None,
    day: Annotated[
        str | None, typer.Option("--day", help="Show only this date (YYYY-MM-DD).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show a stored week: budgets, when actions fall, and every slot with its status."""
    from planner.render import render_plan  # noqa: PLC0415

    live = open_live(ctx, account)
    now = live.clock()
    with translated_errors():
        monday = resolve_week(week, now, live.settings) or this_monday(now, live.settings)
        only = _parse_day(day) if day else None
        plan = live.store.load_week(account, monday)
    if plan is None:
        fail(f"no plan stored for account {account!r}, week of {monday} (run generate-week)", 1)
    if only is not None and only.isoformat() not in plan.days:
        fail(f"--day {day}: not a planned day of week {plan.label}")
    if as_json:
        typer.echo(json.dumps(plan.to_json(), indent=2))
        return
    s = live.settings
    render_plan(
        out_console(),
        plan,
        start_min=minutes_of_day(s.OPERATING_START),
        end_min=minutes_of_day(s.OPERATING_END),
        only_day=only,
    )


def _parse_day(text: str) -> date:
    from planner.weekly_plan import PlanError  # noqa: PLC0415

    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise PlanError(f"--day {text!r} is not a date (YYYY-MM-DD)") from exc


@app.command("status")
def status(
    ctx: typer.Context,
    account: Annotated[
        str | None,
        typer.Option(
            "--account", "-a", help="Account to show (default: every account of ACCOUNTS_FILE)."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Counters against limits, plan progress, next slot, coverage. Exit 0 healthy, 1 not."""
    from config.accounts import account_names  # noqa: PLC0415
    from config.settings import SettingsError  # noqa: PLC0415
    from planner.status import gather  # noqa: PLC0415
    from planner.store import StoreError  # noqa: PLC0415

    try:
        names = [account] if account else (account_names(obj(ctx).settings) or ["default"])
    except SettingsError as exc:
        fail(str(exc))
    reports = []
    for name in names:
        try:
            reports.append(gather(open_live(ctx, name)).to_json())
        except StoreError as exc:
            fail(str(exc), 1)
    healthy = all(r["healthy"] for r in reports)
    if as_json:
        typer.echo(json.dumps(reports[0] if account else _all(reports), indent=2))
    elif len(reports) == 1:
        _render_status(out_console(), reports[0])
    else:
        _render_summary(out_console(), reports)
    raise typer.Exit(0 if healthy else 1)


def _all(reports: list[dict[str, Any]]) -> dict[str, Any]:
    if len(reports) == 1:
        return reports[0]
    return {"healthy": all(r["healthy"] for r in reports), "accounts": reports}


def _render_summary(console: Console, reports: list[dict[str, Any]]) -> None:
    from rich.table import Table  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    table = Table(title="accounts")
    for column in ("account", "health", "week", "executed", "today", "this week", "overdue"):
        table.add_column(column)
    for r in reports:
        plan = r["plan"] or {}
        c = r["counters"]
        table.add_row(
            r["account"],
            Text("ok", style="green")
            if r["healthy"]
            else Text("; ".join(r["problems"]), style="red"),
            plan.get("week", "-"),
            f"{plan.get('executed', 0)}/{plan.get('total_budget', 0)}",
            f"{c['daily']['used']}/{c['daily']['limit']}",
            f"{c['weekly']['used']}/{c['weekly']['limit']}",
            str(len(r["coverage"]["overdue"])),
        )
    console.print(table)


def _bar(used: int, limit: int, width: int = 24) -> Text:
    from rich.text import Text  # noqa: PLC0415

    filled = min(width, round(width * used / limit)) if limit else width
    style = "red" if used >= limit else ("yellow" if used >= 0.8 * limit else "green")
    return Text("█" * filled, style=style) + Text("░" * (width - filled), style="dim")


def _render_status(console: Console, data: dict[str, Any]) -> None:
    from rich.table import Table  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    health = (
        Text("healthy", style="bold green")
        if data["healthy"]
        else Text("attention", style="bold red")
    )
    console.print(Text(f"account {data['account']} · ") + health)
    counters = Table(title="caps", show_header=False)
    for name, c in data["counters"].items():
        counters.add_row(name, _bar(c["used"], c["limit"]), f"{c['used']}/{c['limit']}")
    console.print(counters)
    plan = data["plan"]
    if plan:
        parts = ", ".join(f"{k} {v}" for k, v in sorted(plan["statuses"].items()))
        console.print(
            f"week {plan['week']}: {plan['executed']} of {plan['total_budget']} executed ({parts})"
        )
    nxt = data["next_slot"]
    console.print(f"next slot: {nxt['local_time']} {nxt['profile']}" if nxt else "next slot: none")
    cov = data["coverage"]
    console.print(
        f"coverage: {cov['profiles']} profiles, {len(cov['overdue'])} overdue, "
        f"{len(cov['unreachable'])} unreachable (cooling down)"
    )
    if data["breaker"]["consecutive_failures"]:
        console.print(f"consecutive failures: {data['breaker']['consecutive_failures']}")
    if data["outbox_pending"]:
        console.print(f"{data['outbox_pending']} outcomes waiting for write-back (run sync)")
    for problem in data["problems"]:
        console.print(f"[bold red]•[/] {problem}")
