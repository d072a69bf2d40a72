"""Which cells a write-back changes: shared by the CSV and the Sheets source.

The plan is computed from the source as it is *now* (re-read just before writing), so rows
added, moved or edited since the last load are respected. A profile is found by
``profile_key`` on the first row that has it (the row ``load`` used). Missing columns are
appended after the widest row: ``last_like_date`` when the source has no date column
(a date, once written, wins over days-since on that row) and ``last_outcome``.

The last-engaged date never moves backwards: an older success than the cell already holds
leaves the cell alone. Dates are written as ISO 8601 UTC, ``2026-02-09T15:04:05Z``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from planner.profiles import profile_key
from planner.sources.base import OutcomeUpdate
from planner.sources.columns import DATE, OUTCOME, URL, ColumnMap
from planner.sources.validation import check_url, parse_instant

log = logging.getLogger(__name__)

NEW_DATE_HEADER = "last_like_date"
NEW_OUTCOME_HEADER = "last_outcome"


@dataclass(frozen=True, slots=True)
class CellWrite:
    """Set the cell at spreadsheet ``row`` (header = 1), 0-based column ``col``."""

    row: int
    col: int
    value: str


@dataclass(frozen=True, slots=True)
class WritePlan:
    writes: list[CellWrite] = field(default_factory=list)
    width: int = 0  # columns after any new ones
    added_columns: list[int] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)  # profile keys not in the source


def format_instant(instant: datetime) -> str:
    """``2026-02-09T15:04:05Z``: ISO 8601 in UTC, read back exactly by ``parse_when``."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def collapse(updates: Iterable[OutcomeUpdate]) -> dict[str, OutcomeUpdate]:
    """One update per profile: the outcome of the latest ``at``, the latest success.

    A failure after a success in the same flush must not erase that success's date.
    """
    merged: dict[str, OutcomeUpdate] = {}
    for upd in sorted(updates, key=lambda u: u.at):
        key = profile_key(upd.profile_key)
        before = merged.get(key)
        engaged = upd.engaged_at
        if before is not None and before.engaged_at is not None:
            engaged = before.engaged_at if engaged is None else max(engaged, before.engaged_at)
        merged[key] = OutcomeUpdate(key, engaged, upd.outcome, upd.at)
    return merged


def plan_write_back(
    headers: Sequence[str],
    records: Sequence[tuple[int, Sequence[str]]],
    columns: ColumnMap,
    updates: Sequence[OutcomeUpdate],
) -> WritePlan:
    """The cell writes that record ``updates``; ``records`` are the data rows."""
    wanted = collapse(updates)
    width = max([len(headers), *(len(cells) for _, cells in records)])
    added: list[int] = []
    writes: list[CellWrite] = []

    def column(field_name: str, new_header: str) -> int:
        nonlocal width
        idx = columns.get(field_name)
        if idx is None:
            idx = width
            width += 1
            added.append(idx)
            writes.append(CellWrite(1, idx, new_header))
        return idx

    date_col = column(DATE, NEW_DATE_HEADER)
    outcome_col = column(OUTCOME, NEW_OUTCOME_HEADER)
    url_col = columns.get(URL)
    rows: dict[str, tuple[int, Sequence[str]]] = {}
    for row, cells in records:
        url = cells[url_col].strip() if url_col is not None and url_col < len(cells) else ""
        if check_url(url) is None:
            rows.setdefault(profile_key(url), (row, cells))

    unmatched: list[str] = []
    for key, upd in wanted.items():
        if key not in rows:
            unmatched.append(key)
            continue
        row, cells = rows[key]
        if upd.engaged_at is not None and _is_newer(upd.engaged_at, _cell(cells, date_col)):
            writes.append(CellWrite(row, date_col, format_instant(upd.engaged_at)))
        writes.append(CellWrite(row, outcome_col, upd.outcome))
    if unmatched:
        # Not an error: the profile was removed from the source since it was planned.
        log.warning("write-back: %d profile(s) no longer in the source", len(unmatched))
    if len(writes) == len(added):  # only new headers, nothing to record: leave it alone
        return WritePlan(width=width - len(added), unmatched=unmatched)
    return WritePlan(writes=writes, width=width, added_columns=added, unmatched=unmatched)


def _cell(cells: Sequence[str], idx: int) -> str:
    return cells[idx].strip() if idx < len(cells) else ""


def _is_newer(instant: datetime, existing: str) -> bool:
    if not existing:
        return True
    try:
        return instant > parse_instant(existing)
    except ValueError:
        return True  # an unreadable date is replaced by a good one
