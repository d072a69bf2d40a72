"""Profile sources: where the profiles come from and where outcomes go back to.

``open_source`` picks the source the way the CLI does: an explicit ``--profiles`` or
``--sheet`` wins, then the settings (PROFILES_PATH, SHEET_KEY), then the example CSV.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from config.settings import Settings
from planner.sources.base import LoadResult, OutcomeUpdate, ProfileSource, RowProblem
from planner.sources.columns import FIELDS, ColumnMapping, normalise_header, resolve_columns
from planner.sources.csv_source import CsvSource
from planner.sources.errors import (
    ColumnError,
    EmptySourceError,
    InvalidRowsError,
    NoValidRowsError,
    SheetsAuthError,
    SheetsError,
    SheetsUnavailableError,
    SourceEncodingError,
    SourceError,
    SourceFormatError,
    SourceNotFoundError,
    WriteBackError,
)
from planner.sources.report import format_problems, summarise_problems

if TYPE_CHECKING:
    from planner.sources.sheets_api import RetryPolicy
    from planner.sources.sheets_source import SheetsSource, spreadsheet_key

# gspread and google-auth take about half a second to import: only a Sheets source needs them.
_LAZY = {
    "RetryPolicy": "planner.sources.sheets_api",
    "SheetsSource": "planner.sources.sheets_source",
    "spreadsheet_key": "planner.sources.sheets_source",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


DEFAULT_PROFILES_PATH = Path("examples/profiles.csv")


def open_source(
    settings: Settings,
    *,
    profiles: Path | None = None,
    sheet: str | None = None,
    worksheet: str | None = None,
    columns: Mapping[str, str] | None = None,
) -> ProfileSource:
    """The source to plan from; nothing is read yet (``load`` does that)."""
    if profiles is not None and sheet:
        raise SourceError(f"--profiles {profiles} and --sheet {sheet}: pick one")
    if profiles is not None and worksheet:
        raise SourceError(f"--worksheet {worksheet} applies to --sheet, not to a CSV file")
    if profiles is None and not sheet:
        profiles = settings.PROFILES_PATH
        sheet = settings.SHEET_KEY or None
    if sheet:
        from planner.sources.sheets_source import SheetsSource  # noqa: PLC0415

        return SheetsSource(
            sheet,
            worksheet or settings.SHEET_WORKSHEET or None,
            credentials_file=settings.GOOGLE_SERVICE_ACCOUNT_FILE,
            columns=columns,
        )
    return CsvSource(profiles or DEFAULT_PROFILES_PATH, columns=columns)


__all__ = [
    "DEFAULT_PROFILES_PATH",
    "FIELDS",
    "ColumnError",
    "ColumnMapping",
    "CsvSource",
    "EmptySourceError",
    "InvalidRowsError",
    "LoadResult",
    "NoValidRowsError",
    "OutcomeUpdate",
    "ProfileSource",
    "RetryPolicy",
    "RowProblem",
    "SheetsAuthError",
    "SheetsError",
    "SheetsSource",
    "SheetsUnavailableError",
    "SourceEncodingError",
    "SourceError",
    "SourceFormatError",
    "SourceNotFoundError",
    "WriteBackError",
    "format_problems",
    "normalise_header",
    "open_source",
    "resolve_columns",
    "spreadsheet_key",
    "summarise_problems",
]
