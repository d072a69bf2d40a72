"""What every command shares: the context object, options, and turning errors into exits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

# Every command module is imported to list the commands, so nothing heavy is imported at
# module level here: settings (pydantic), redis and rich load when a command needs them,
# which keeps ``python -m planner --help`` fast.
if TYPE_CHECKING:
    import redis
    from rich.console import Console

    from config.settings import Settings
    from planner.live import Live

# Exit codes: 0 ok, 1 "not healthy" / nothing to do, 2 bad input, 3 store unavailable.
EXIT_BAD_INPUT = 2
EXIT_UNAVAILABLE = 3

AccountOption = Annotated[
    str, typer.Option("--account", "-a", help="Account to act on.", show_default=True)
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of tables.")]


@cache
def err_console() -> Console:
    """The stderr console (created on first use: rich is not needed to list commands)."""
    from rich.console import Console  # noqa: PLC0415

    return Console(stderr=True)


def out_console(*, soft_wrap: bool = False) -> Console:
    """A stdout console (rich loads on first use: it is not needed to list commands)."""
    from rich.console import Console  # noqa: PLC0415

    return Console(soft_wrap=soft_wrap)


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    from rich.markup import escape  # noqa: PLC0415

    # Messages quote user input ("[accounts.x]"); rich must not read it as markup.
    err_console().print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True)
    raise typer.Exit(code)


@dataclass
class AppContext:
    env_file: Path | None = None
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from config.settings import SettingsError, load_settings  # noqa: PLC0415

            try:
                if self.env_file is not None:
                    self._settings = load_settings(_env_file=self.env_file)
                else:
                    self._settings = load_settings()
            except SettingsError as exc:
                fail(str(exc))
        return self._settings


def obj(ctx: typer.Context) -> AppContext:
    value = ctx.obj
    if not isinstance(value, AppContext):  # a command called without the root callback
        value = AppContext()
        ctx.obj = value
    return value


@contextmanager
def translated_errors() -> Iterator[None]:
    """Bad input of any kind becomes one clear line and a non-zero exit."""
    from config.settings import SettingsError  # noqa: PLC0415
    from planner.sources.errors import SourceError  # noqa: PLC0415
    from planner.store import StoreError, StoreUnavailable  # noqa: PLC0415
    from planner.weekly_plan import PlanError  # noqa: PLC0415

    try:
        yield
    except SourceError as exc:
        if exc.problems:
            from planner.sources import format_problems  # noqa: PLC0415

            err_console().print(format_problems(exc.problems, title="rows refused"))
        fail(str(exc))
    except (PlanError, SettingsError) as exc:
        fail(str(exc))
    except StoreUnavailable as exc:
        fail(str(exc), EXIT_UNAVAILABLE)
    except StoreError as exc:
        fail(str(exc))


def connect_redis(settings: Settings) -> redis.Redis:
    """REDIS_URL, or the embedded server (started on first use); exit 3 if unreachable."""
    import redis  # noqa: PLC0415

    from planner.embedded import connect  # noqa: PLC0415
    from planner.redis_server import RedisServerError  # noqa: PLC0415

    try:
        client = connect(settings)
        client.ping()
    except RedisServerError as exc:
        fail(str(exc), EXIT_UNAVAILABLE)
    except redis.RedisError as exc:
        where = settings.REDIS_URL or "the embedded server"
        fail(f"Redis at {where} is unreachable: {exc}", EXIT_UNAVAILABLE)
    return client


def open_live(ctx: typer.Context, account: str) -> Live:
    from planner.live import Live  # noqa: PLC0415
    from planner.weekly_plan import PlanError, validate_account  # noqa: PLC0415

    try:
        validate_account(account)
    except PlanError as exc:
        fail(str(exc))
    settings = account_settings(ctx, account)
    return Live.connect(connect_redis(settings), settings, account)


def account_settings(ctx: typer.Context, account: str) -> Settings:
    """The base settings with ``account``'s overrides from ACCOUNTS_FILE."""
    from config.accounts import settings_for  # noqa: PLC0415
    from config.settings import SettingsError  # noqa: PLC0415

    try:
        return settings_for(obj(ctx).settings, account)
    except SettingsError as exc:
        fail(str(exc))
