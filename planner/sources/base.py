"""The profile-source interface and the plain data it exchanges with the planner."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, Protocol, runtime_checkable

from planner.profiles import Profile


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One refused cell: ``row`` as a spreadsheet numbers it (header = 1), ``column`` as
    the source spells its header (or the field name when the column is absent)."""

    row: int
    column: str
    value: str
    reason: str


@dataclass(frozen=True, slots=True)
class LoadResult:
    """The good rows of a source and what was wrong with the others."""

    profiles: list[Profile]
    problems: list[RowProblem] = field(default_factory=list)
    source: str = ""

    @property
    def skipped_rows(self) -> list[int]:
        """Row numbers that were left out (a row may have several problems)."""
        return sorted({p.row for p in self.problems})


class OutcomeUpdate(NamedTuple):
    """An outcome to write back into the source.

    ``engaged_at`` is the instant of a successful engagement (``None`` when the outcome was
    not a success: the last-engaged date is then left alone); ``at`` is when the outcome
    happened, and orders several updates of one profile within a flush.
    """

    profile_key: str
    engaged_at: datetime | None
    outcome: str
    at: datetime


@runtime_checkable
class ProfileSource(Protocol):
    """Where profiles come from and where outcomes go back to."""

    @property
    def description(self) -> str:
        """A human description of the source (a path, a spreadsheet and worksheet)."""
        ...

    def load(self, now: datetime, *, strict: bool = False) -> LoadResult:
        """Read and validate every row.

        Lenient (default): bad rows are skipped and listed in ``LoadResult.problems``.
        Strict: any bad row raises ``InvalidRowsError`` carrying the same list. Either way
        an unreadable or empty source, a missing required column, or no valid row raises a
        ``SourceError``.
        """
        ...

    def write_back(self, updates: Sequence[OutcomeUpdate]) -> None:
        """Write outcomes into the last-engaged date and last-outcome columns.

        All or nothing per call; on any failure raises ``WriteBackError`` carrying the
        updates, which the caller keeps queued for the next flush.
        """
        ...
