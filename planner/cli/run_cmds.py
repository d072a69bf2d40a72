"""Commands that act: ``schedule``, ``revise``, ``resume``, ``sync``, ``batch``."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from planner.cli.app import app
from planner.cli.common import AccountOption, fail, open_live, out_console, translated_errors
from planner.cli.plan_cmds import ProfilesOption
from planner.cli.source_options import SheetOption, WorksheetOption, load_profiles


@app.command("schedule")
def schedule(
    ctx: typer.Context,
    account: AccountOption = "default",
    profiles: ProfilesOption = None,
    sheet: SheetOption = None,
    worksheet: WorksheetOption = None,
) -> None:
    """Plan this week if it has no plan, then install the daily chain; safe to run again.

    The chain runs every morning before the operating window: it plans a new week on
    Mondays and re-binds the day's open slots from the live ledger (late binding).
    """
    import numpy as np  # noqa: PLC0415

    from planner import chain  # noqa: PLC0415
    from planner.service import generate  # noqa: PLC0415

    live = open_live(ctx, account)
    now = live.clock()
    with translated_errors():
        loaded = load_profiles(
            live.settings, now, profiles=profiles, sheet=sheet, worksheet=worksheet, strict=False
        )
        outcome = generate(live, loaded.profiles, now=now, rng=np.random.default_rng())
    console = out_console()
    console.print(
        f"week {outcome.plan.label}: {outcome.action}, {outcome.scheduled} jobs scheduled"
    )
    job_id, at, added = chain.install(live, now)
    local = at.astimezone(live.settings.tz)
    verb = "installed" if added else "already installed"
    console.print(f"daily chain {verb}: next tick {local:%a %Y-%m-%d %H:%M %Z} (job {job_id})")


@app.command("revise")
def revise_cmd(
    ctx: typer.Context,
    account: AccountOption = "default",
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed.")] = None,
) -> None:
    """Re-bind today's and later open slots from the live coverage ledger now."""
    import numpy as np  # noqa: PLC0415

    from planner.service import ServiceError, revise_live  # noqa: PLC0415

    live = open_live(ctx, account)
    with translated_errors():
        try:
            plan, report, unknown = revise_live(
                live, now=live.clock(), rng=np.random.default_rng(seed)
            )
        except ServiceError as exc:
            fail(str(exc), 1)
    out_console().print(
        f"week {plan.label} revision {plan.revision}: {report.rebound} open slots re-bound, "
        f"{report.forced} forced picks, {len(unknown)} interrupted slots marked unknown"
    )


@app.command("resume")
def resume(ctx: typer.Context, account: AccountOption = "default") -> None:
    """Lift the circuit breaker's pause for today."""
    from planner import breaker  # noqa: PLC0415

    live = open_live(ctx, account)
    lifted = breaker.resume(live.client, account)
    out_console().print("breaker lifted: remaining slots run again" if lifted else "not paused")


@app.command("sync")
def sync(ctx: typer.Context, account: AccountOption = "default") -> None:
    """Write queued outcomes back into the profile source (CSV or Google Sheets)."""
    from planner import outbox  # noqa: PLC0415
    from planner.sources import WriteBackError, open_source  # noqa: PLC0415

    live = open_live(ctx, account)
    if not live.settings.WRITE_BACK:
        fail(f"WRITE_BACK is off for account {account!r}: nothing is written to its source", 1)
    with translated_errors():
        source = open_source(live.settings)
        try:
            written = outbox.flush(live.client, account, source)
        except WriteBackError as exc:
            left = outbox.pending(live.client, account)
            fail(f"{exc} ({left} outcomes kept for the next sync)", 1)
    out_console().print(f"{written} outcomes written to {source.description}")


@app.command("batch")
def batch(
    ctx: typer.Context,
    account: AccountOption = "default",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show what would run; change nothing.")
    ] = False,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Run at most N slots (seed --test-batch).")
    ] = None,
) -> None:
    """Run today's remaining slots in the foreground, in time order, waiting for each time."""
    from planner.weekly_plan import week_monday  # noqa: PLC0415

    live = open_live(ctx, account)
    console = out_console()
    now = live.clock()
    plan = live.store.load_week(account, week_monday(live.today(now)))
    if plan is None:
        fail(f"no plan for this week of account {account!r} (run generate-week)", 1)
    today = plan.get_today(now)
    slots = sorted(
        (s for s in (today.engagements if today else []) if s.is_open),
        key=lambda s: s.scheduled_at,
    )[:limit]
    if not slots:
        console.print("no open slots left today")
        return
    if dry_run:
        for s in slots:
            console.print(f"would run {s.scheduled_time} {s.name or '(no profile)'} [{s.slot_id}]")
        console.print(f"dry run: {len(slots)} slots, nothing changed")
        return
    import numpy as np  # noqa: PLC0415

    from worker.execute import execute_slot  # noqa: PLC0415
    from worker.handlers import build_handler  # noqa: PLC0415

    settings = live.settings  # the account's own (ACCOUNTS_FILE overrides)
    rng = np.random.default_rng()
    handler = build_handler(settings, rng=rng, dry_run_mix=settings.DRY_RUN_MIX or None)
    for s in slots:
        wait_s = (live.clock.to_real(s.scheduled_at) - live.clock.real_now()).total_seconds()
        if wait_s > 0:
            console.print(f"waiting {wait_s:.0f}s for {s.scheduled_time} …")
            time.sleep(wait_s)
        result = execute_slot(live, handler, rng, s.slot_id)
        console.print(f"{s.scheduled_time} {s.name or '-'}: {result.status} {result.detail}")
