"""The embedded Redis (``redis start|stop|status|url``) and ``worker``, which runs
``rq worker engagements`` against the same server the CLI uses."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from planner.cli.app import app
from planner.cli.common import EXIT_UNAVAILABLE, connect_redis, fail, obj, out_console

redis_app = typer.Typer(
    help="The embedded Redis the CLI starts when REDIS_URL is empty.", no_args_is_help=True
)
app.add_typer(redis_app, name="redis")


def server_url(ctx: typer.Context) -> str:
    """REDIS_URL, or the embedded server's URL (starting it if need be)."""
    from planner.embedded import embedded_status  # noqa: PLC0415

    settings = obj(ctx).settings
    if settings.REDIS_URL:
        return settings.REDIS_URL
    connect_redis(settings)
    return embedded_status(settings).url


@redis_app.command("start")
def start(ctx: typer.Context) -> None:
    """Start the embedded redis-server (or find it running)."""
    out_console().print(f"embedded Redis answering at {server_url(ctx)}")


@redis_app.command("url")
def url(ctx: typer.Context) -> None:
    """Print the URL workers and `rq info --url` should use."""
    typer.echo(server_url(ctx))


@redis_app.command("status")
def status(ctx: typer.Context) -> None:
    """Is the embedded server running? Exit 0 if it answers, 1 if not."""
    from planner.embedded import embedded_status  # noqa: PLC0415

    info = embedded_status(obj(ctx).settings)
    state = f"running (pid {info.pid})" if info.running else "not running"
    out_console().print(f"embedded Redis {state}; data in {info.data_dir}; socket {info.socket}")
    raise typer.Exit(0 if info.running else 1)


@redis_app.command("stop")
def stop(ctx: typer.Context) -> None:
    """Stop the embedded server (its data stays; the next command restarts it)."""
    from planner.embedded import stop_embedded  # noqa: PLC0415
    from planner.redis_server import RedisServerError  # noqa: PLC0415

    try:
        stopped = stop_embedded(obj(ctx).settings)
    except RedisServerError as exc:
        fail(str(exc), EXIT_UNAVAILABLE)
    out_console().print("stopped" if stopped else "was not running")


@app.command("worker")
def worker(
    ctx: typer.Context,
    with_scheduler: Annotated[
        bool,
        typer.Option("--with-scheduler", help="Also run RQ's built-in scheduler (backend 'rq')."),
    ] = False,
    burst: Annotated[bool, typer.Option("--burst", help="Quit when the queue is empty.")] = False,
) -> None:
    """Run `rq worker <QUEUE_NAME>` on the same Redis as the CLI (embedded or REDIS_URL)."""
    settings = obj(ctx).settings
    target = server_url(ctx)
    argv = [str(Path(sys.executable).parent / "rq"), "worker", settings.QUEUE_NAME, "--url", target]
    argv += ["--worker-class", "worker.rq_worker.EngagementWorker"]
    argv += ["--with-scheduler"] * with_scheduler + ["--burst"] * burst
    os.environ["REDIS_URL"] = target  # the jobs read their settings from the environment
    os.execv(argv[0], argv)
