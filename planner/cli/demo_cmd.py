"""``demo``: the README's main job, a compressed week through the real pipeline."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from planner.cli.app import app
from planner.cli.common import (
    JsonOption,
    connect_redis,
    err_console,
    obj,
    out_console,
    translated_errors,
)

if TYPE_CHECKING:
    import redis
    from rich.console import Console


@app.command("demo")
def demo(
    ctx: typer.Context,
    profiles: Annotated[Path, typer.Option("--profiles", help="Profiles CSV to plan from.")] = Path(
        "examples/profiles.csv"
    ),
    seconds: Annotated[
        float, typer.Option("--seconds", min=10, help="How long the compressed week takes.")
    ] = 60.0,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=8, help="rq worker processes.")
    ] = 2,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed for the plan.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Plan next week for the example profiles and run it with real RQ processes, fast.

    Uses the account "demo" (its previous data is cleared) on REDIS_URL or the embedded
    Redis, the dry-run handler with a realistic outcome mix, a real rqscheduler process and
    rq worker processes, and a clock that runs a week in about --seconds.
    """
    from rich.progress import BarColumn, Progress, TextColumn  # noqa: PLC0415 - not for --help

    from planner.demo import run_demo  # noqa: PLC0415
    from planner.sources import CsvSource  # noqa: PLC0415

    settings = obj(ctx).settings
    client = connect_redis(settings)
    url = _url_of(client)
    err = err_console()
    with translated_errors():
        loaded = CsvSource(profiles).load(_now(client), strict=False)
    progress = Progress(
        TextColumn("[bold]demo week"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[done]}/{task.fields[slots]} slots finished"),
        console=err,
        transient=as_json,
    )
    with progress:
        task = progress.add_task("week", total=1.0, done=0, slots=0)

        def report(fraction: float, done: int, total: int) -> None:
            progress.update(task, completed=fraction, done=done, slots=total)

        result = run_demo(
            client,
            settings,
            url,
            loaded.profiles,
            seconds=seconds,
            workers=workers,
            seed=seed,
            progress=report,
        )
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        _summary(out_console(), result.to_json())
    clean = not any(result.violations.values())
    raise typer.Exit(0 if clean else 1)


def _summary(console: Console, data: dict[str, Any]) -> None:
    from rich.table import Table  # noqa: PLC0415

    table = Table(title=f"demo week: {data['slots']} slots in {data['seconds']} s")
    table.add_column("outcome")
    table.add_column("slots", justify="right")
    outcomes: dict[str, int] = data["outcomes"]
    for name, count in sorted(outcomes.items(), key=lambda kv: -kv[1]):
        table.add_row(name, str(count))
    console.print(table)
    violations: dict[str, int] = data["violations"]
    verdict = "none" if not any(violations.values()) else violations
    console.print(f"violations (cap, min gap, outside hours, double execution): {verdict}")
    console.print("inspect it: python -m planner show-plan --account demo --week next")


def _url_of(client: redis.Redis) -> str:
    """The URL worker processes need to reach the same server as ``client``."""
    kwargs = client.connection_pool.connection_kwargs
    auth = f":{kwargs['password']}@" if kwargs.get("password") else ""
    db = kwargs.get("db", 0)
    if "path" in kwargs:
        return f"unix://{auth}{kwargs['path']}?db={db}"
    return f"redis://{auth}{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{db}"


def _now(client: redis.Redis) -> datetime:
    from planner.server_clock import from_time_reply  # noqa: PLC0415

    return from_time_reply(client.time())
