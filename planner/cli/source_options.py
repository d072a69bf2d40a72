"""Options every planning command shares to say where profiles come from."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from planner.cli.common import err_console

if TYPE_CHECKING:
    from config.settings import Settings
    from planner.sources.base import LoadResult

SheetOption = Annotated[
    str | None,
    typer.Option(
        "--sheet", help="Google Sheets key or URL to read profiles from (instead of a CSV)."
    ),
]
WorksheetOption = Annotated[
    str | None,
    typer.Option("--worksheet", help="Worksheet name within --sheet (default: the first)."),
]
StrictOption = Annotated[
    bool,
    typer.Option(
        "--strict", help="Refuse the whole source if any row is bad (default: skip bad rows)."
    ),
]


def load_profiles(
    settings: Settings,
    now: datetime,
    *,
    profiles: Path | None,
    sheet: str | None,
    worksheet: str | None,
    strict: bool,
) -> LoadResult:
    """Read and validate the source; show skipped rows on stderr (a SourceError propagates)."""
    from planner.sources import format_problems, open_source  # noqa: PLC0415 - gspread is heavy

    source = open_source(settings, profiles=profiles, sheet=sheet, worksheet=worksheet)
    result = source.load(now, strict=strict)
    if result.problems:
        err_console().print(
            format_problems(
                result.problems,
                title=f"{len(result.skipped_rows)} rows skipped in {result.source}",
            )
        )
    return result
