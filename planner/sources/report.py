"""How refused rows are shown to a person: a table for the terminal, a line for logs."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text

from planner.sources.base import RowProblem

_MAX_VALUE_CHARS = 60


def format_problems(problems: Sequence[RowProblem], *, title: str | None = None) -> Table:
    """A rich table of row, column, value, reason, in row order."""
    table = Table(title=title or f"{len(problems)} problem(s) in the profile source")
    table.add_column("row", justify="right")
    table.add_column("column")
    table.add_column("value", overflow="fold")
    table.add_column("reason")
    for p in sorted(problems, key=lambda p: p.row):
        # Text, not str: cell values are user data and must not be read as rich markup.
        table.add_row(str(p.row), Text(p.column), Text(shorten(p.value)), Text(p.reason))
    return table


def summarise_problems(problems: Sequence[RowProblem]) -> str:
    """One line: ``2 rows skipped: row 3 (missing URL), row 5 (date in the future)``."""
    if not problems:
        return "no rows skipped"
    by_row: dict[int, list[str]] = {}
    for p in problems:
        by_row.setdefault(p.row, []).append(p.reason)
    parts = [f"row {row} ({'; '.join(reasons)})" for row, reasons in sorted(by_row.items())]
    noun = "row" if len(by_row) == 1 else "rows"
    return f"{len(by_row)} {noun} skipped: " + ", ".join(parts)


def shorten(value: str) -> str:
    """Show empties and control characters; cut long values so the table stays readable."""
    if not value:
        return "(empty)"
    text = value.replace("\r", "\\r").replace("\n", "\\n")
    if len(text) > _MAX_VALUE_CHARS:
        text = text[: _MAX_VALUE_CHARS - 1] + "…"
    return text
