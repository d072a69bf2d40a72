"""Errors of the profile sources: one base, small subclasses that carry what went wrong.

Every error is a ``SourceError`` (a ``ValueError``: the input was refused), so the CLI
catches one type, prints ``str(exc)`` and, when ``exc.problems`` is not empty, the table
from ``format_problems``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only, avoids an import cycle
    from planner.sources.base import OutcomeUpdate, RowProblem


class SourceError(ValueError):
    """Raised when a profile source cannot be used; ``problems`` lists bad rows, if any."""

    def __init__(self, message: str, *, problems: Sequence[RowProblem] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[RowProblem, ...] = tuple(problems)


class SourceNotFoundError(SourceError):
    """Raised when the file is missing, is a directory, or cannot be opened."""

    def __init__(self, message: str, *, path: Path) -> None:
        super().__init__(message)
        self.path = path


class SourceEncodingError(SourceError):
    """Raised when a file is not UTF-8; ``byte_offset`` is where decoding failed."""

    def __init__(self, message: str, *, path: Path, byte_offset: int, line: int) -> None:
        super().__init__(message)
        self.path = path
        self.byte_offset = byte_offset
        self.line = line


class SourceFormatError(SourceError):
    """Raised when the text cannot be read as CSV at all (not one bad row: the file)."""


class EmptySourceError(SourceError):
    """Raised when the source has no header or no data row."""


class ColumnError(SourceError):
    """Raised when a required column is missing or two columns claim one field."""

    def __init__(self, message: str, *, missing: Sequence[str], headers: Sequence[str]) -> None:
        super().__init__(message)
        self.missing = tuple(missing)
        self.headers = tuple(headers)


class InvalidRowsError(SourceError):
    """Raised in strict mode when any row is bad; ``problems`` names each one."""


class NoValidRowsError(InvalidRowsError):
    """Raised when every data row is bad: there is nothing to plan from."""


class SheetsError(SourceError):
    """Raised when Google Sheets cannot be read or written."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class SheetsAuthError(SheetsError):
    """Raised when Google refuses the credentials or the access (401, 403, token refresh)."""


class SheetsUnavailableError(SheetsError):
    """Raised when 429 / 5xx / network errors persist after the bounded retries."""

    def __init__(self, message: str, *, status: int | None, attempts: int) -> None:
        super().__init__(message, status=status)
        self.attempts = attempts


class WriteBackError(SourceError):
    """Raised when outcomes could not be written; ``updates`` must stay queued for a retry.

    ``retryable`` is False when retrying unchanged cannot help (for example access was
    refused); the caller should still keep the updates and report the cause.
    """

    def __init__(self, message: str, *, updates: Sequence[OutcomeUpdate], retryable: bool) -> None:
        super().__init__(message)
        self.updates: tuple[OutcomeUpdate, ...] = tuple(updates)
        self.retryable = retryable
