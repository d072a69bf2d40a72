"""State commands: ``export`` and ``import`` of ``schedule_state.json`` (seed section 6)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from planner.cli.app import app
from planner.cli.common import AccountOption, fail, open_live, out_console, translated_errors
from planner.cli.plan_cmds import WeekOption, resolve_week, this_monday

PathArgument = Annotated[
    Path, typer.Argument(help="The state file (JSON).", dir_okay=False, show_default=False)
]


@app.command("export")
def export_cmd(
    ctx: typer.Context,
    path: PathArgument,
    account: AccountOption = "default",
    week: WeekOption = None,
) -> None:
    """Write an account's counters, week plan, ledger and guard state to PATH (mode 0600)."""
    from planner.state_file import export_state, write_state_file  # noqa: PLC0415

    live = open_live(ctx, account)
    now = live.clock()
    with translated_errors():
        monday = resolve_week(week, now, live.settings) or this_monday(now, live.settings)
        doc = export_state(live.client, account, live.settings.TIMEZONE, week_start=monday, now=now)
    try:
        write_state_file(path, doc)
    except OSError as exc:
        fail(f"{path}: cannot write: {exc.strerror or exc}")
    plan = doc["plan"]
    slots = sum(len(d["engagements"]) for d in plan["days"].values()) if plan else 0
    out_console(soft_wrap=True).print(
        f"exported account {account!r} to {path}: week {doc['week']} "
        f"({slots} slots{'' if plan else ', no plan stored'}), {len(doc['ledger'])} ledger "
        f"entries, {len(doc['guard']['reservations'])} guard reservations"
    )


@app.command("import")
def import_cmd(
    ctx: typer.Context,
    path: PathArgument,
    account: Annotated[
        str | None,
        typer.Option(
            "--account", "-a", help="Refuse the file unless it is this account's (default: any)."
        ),
    ] = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Overwrite the account's ledger, profiles, guard state and that week.",
        ),
    ] = False,
    jobs: Annotated[
        bool,
        typer.Option("--jobs/--no-jobs", help="Schedule a job for every pending slot imported."),
    ] = True,
) -> None:
    """Restore an account from PATH. The whole file is checked before anything is written."""
    from planner.service import ensure_jobs  # noqa: PLC0415
    from planner.state_file import StateFileError, import_state, load_state_file  # noqa: PLC0415

    try:
        state = load_state_file(path, account=account)
    except StateFileError as exc:
        fail(f"{exc}; nothing imported")
    live = open_live(ctx, state.doc.account)
    with translated_errors():
        try:
            summary = import_state(live.client, state, replace=replace)
        except StateFileError as exc:
            fail(f"{exc}; nothing imported")
        scheduled = ensure_jobs(live, state.plan) if jobs and state.plan else 0
    expired = f", {summary.expired_skipped} expired guard keys left out"
    out_console(soft_wrap=True).print(
        f"imported account {summary.account!r} from {path}: "
        f"week {summary.week or '(none)'} ({summary.slots} slots, {scheduled} jobs scheduled), "
        f"{summary.ledger} ledger entries, {summary.profiles} profiles, "
        f"{summary.reservations} guard reservations" + (expired if summary.expired_skipped else "")
    )
