"""The root Typer app: global options, settings at the edge, error translation."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from planner.cli.common import AppContext, fail

# Plain click help: typer's rich help imports rich and markdown-it first (about 0.1 s of a
# 0.2 s ``--help``; issue 6 asks for <= 0.3 s), and no help text here uses rich markup.
app = typer.Typer(
    name="planner",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    help=(
        "Stochastic, coverage-first engagement scheduler. Plans each week so every profile "
        "is engaged within 14 days, at irregular human-looking times, under hard hourly, "
        "daily and weekly caps."
    ),
)


@app.callback()
def root(
    ctx: typer.Context,
    env_file: Annotated[
        Path | None,
        typer.Option("--env-file", help="Read settings from this file instead of ./.env."),
    ] = None,
) -> None:
    """Settings come from the environment and ./.env (see README "Settings")."""
    if env_file is not None and not env_file.is_file():
        fail(f"--env-file {env_file}: no such file")
    ctx.obj = AppContext(env_file=env_file)


def _register() -> None:
    # Imported for their side effect of adding commands to ``app``.
    from planner.cli import (  # noqa: F401, PLC0415
        demo_cmd,
        plan_cmds,
        redis_cmds,
        run_cmds,
        show_cmds,
        state_cmds,
    )


def main() -> None:
    _register()
    app(prog_name="python -m planner")
    sys.exit(0)
