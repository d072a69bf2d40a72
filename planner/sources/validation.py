"""Row-by-row validation shared by every source: cells in, profiles and problems out.

Rules (each refusal becomes a ``RowProblem`` naming the row and column; a bad row never
stops the others from loading):

* URL: required, ``http(s)://host/path`` with no whitespace. Identity is ``profile_key``;
  the first row with a well-formed URL claims it, and any later row with the same key is a
  duplicate of that row (even when the first row is refused for another reason, so both
  are shown and neither silently wins).
* Last engaged: a date column value wins over a days-since value on the same row. A date
  is ISO 8601: ``YYYY-MM-DD`` means 00:00 UTC that day; a date-time without offset is
  read as UTC; one with an offset is converted to UTC. It must not be after ``now``; up
  to FUTURE_TOLERANCE ahead counts as ``now`` (clock skew between the host that wrote an
  outcome back and the one planning).
  Days-since is a non-negative decimal number (a dot, not a comma): ``now - days``.
  Both empty: never engaged as far as the source knows.
* Active: yes/no, true/false, 1/0, y/n, on/off, x (ticked) or empty (= active). Inactive
  profiles are kept with ``active=False``; the planner skips them, reports still see them.
* Name: any Unicode; empty falls back to the last segment of the URL path.
* Rows whose cells are all empty are ignored (sheets often end with blank rows).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from urllib.parse import unquote, urlsplit

from planner.profiles import Profile, profile_key
from planner.sources.base import LoadResult, RowProblem
from planner.sources.columns import ACTIVE, DATE, DAYS, NAME, URL, ColumnMap
from planner.sources.errors import EmptySourceError, InvalidRowsError, NoValidRowsError

FUTURE_TOLERANCE = timedelta(minutes=5)
MAX_DAYS = 36_500.0  # a century; beyond it the value is a typo, and timedelta would overflow
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ].+")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_TRUE = frozenset({"", "yes", "y", "true", "t", "1", "x", "on", "active"})
_FALSE = frozenset({"no", "n", "false", "f", "0", "off", "inactive"})


def validate_records(
    records: Iterable[tuple[int, Sequence[str]]],
    columns: ColumnMap,
    now: datetime,
    *,
    source: str,
    strict: bool = False,
) -> LoadResult:
    """Validate data records ``(spreadsheet row, cells)``; see the module docstring."""
    profiles: list[Profile] = []
    problems: list[RowProblem] = []
    first_row: dict[str, int] = {}
    seen_data = False
    for row, cells in records:
        if not any(c.strip() for c in cells):
            continue
        seen_data = True
        row_problems, profile = _validate_row(row, cells, columns, now, first_row)
        problems.extend(row_problems)
        if profile is not None and not row_problems:
            profiles.append(profile)
    if not seen_data:
        raise EmptySourceError(f"{source}: no data rows below the header")
    if not profiles:
        raise NoValidRowsError(
            f"{source}: no valid row; {_rows_phrase(problems)} refused", problems=problems
        )
    if problems and strict:
        raise InvalidRowsError(
            f"{source}: {_rows_phrase(problems)} refused (strict mode)", problems=problems
        )
    return LoadResult(profiles=profiles, problems=problems, source=source)


def _validate_row(
    row: int,
    cells: Sequence[str],
    columns: ColumnMap,
    now: datetime,
    first_row: dict[str, int],
) -> tuple[list[RowProblem], Profile | None]:
    def cell(field: str) -> str:
        idx = columns.get(field)
        return cells[idx].strip() if idx is not None and idx < len(cells) else ""

    problems: list[RowProblem] = []

    def refuse(field: str, value: str, reason: str) -> None:
        problems.append(RowProblem(row, columns.header(field), value, reason))

    url = cell(URL)
    url_reason = check_url(url)
    if url_reason:
        refuse(URL, url, url_reason)
    else:
        key = profile_key(url)
        if key in first_row:
            refuse(URL, url, f"duplicate of row {first_row[key]} (same profile)")
        else:
            first_row[key] = row

    engaged_at: datetime | None = None
    date_text, days_text = cell(DATE), cell(DAYS)
    if days_text:
        try:
            engaged_at = now - timedelta(days=parse_days(days_text))
        except ValueError as exc:
            refuse(DAYS, days_text, str(exc))
    if date_text:  # checked second: a date wins over days-since when both are given
        try:
            engaged_at = parse_when(date_text, now)
        except ValueError as exc:
            refuse(DATE, date_text, str(exc))

    active = True
    try:
        active = parse_active(cell(ACTIVE))
    except ValueError as exc:
        refuse(ACTIVE, cell(ACTIVE), str(exc))

    if problems:
        return problems, None
    name = cell(NAME) or _name_from_url(url)
    profile = Profile(
        linkedin_url=url, name=name, last_engaged_at=engaged_at, active=active, row=row
    )
    return problems, profile


def check_url(url: str) -> str | None:
    """Why ``url`` is not a usable profile URL, or None when it is."""
    if not url:
        return "missing URL"
    if any(ch.isspace() for ch in url):
        return "malformed URL: contains whitespace"
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a non-numeric or out-of-range port
    except ValueError as exc:
        return f"malformed URL: {exc}"
    if parts.scheme.lower() not in ("http", "https"):
        return "malformed URL: must start with http:// or https://"
    if not parts.hostname:
        return "malformed URL: no host"
    if not parts.path.strip("/"):
        return "malformed URL: no profile path (like /in/name)"
    return None


def parse_instant(text: str) -> datetime:
    """An ISO 8601 date or date-time as an aware UTC instant (see the module docstring)."""
    text = text.strip()
    try:
        if _ISO_DATE.fullmatch(text):
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        if _ISO_DATETIME.fullmatch(text):
            when = datetime.fromisoformat(text)
            return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except (ValueError, OverflowError):
        pass
    raise ValueError(
        "unparseable date: expected ISO 8601 YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][+HH:MM]"
    )


def parse_when(text: str, now: datetime) -> datetime:
    """``parse_instant``, refusing instants after ``now`` (beyond FUTURE_TOLERANCE)."""
    when = parse_instant(text)
    if when > now + FUTURE_TOLERANCE:
        raise ValueError(f"date in the future (now is {now.isoformat(timespec='minutes')})")
    return min(when, now)


def parse_days(text: str) -> float:
    """A non-negative number of days (decimal point, at most a century)."""
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        raise ValueError("days since is not a number")
    days = float(text)
    if days < 0:
        raise ValueError("days since is negative")
    if days > MAX_DAYS or not math.isfinite(days):
        raise ValueError(f"days since is more than {MAX_DAYS:g}")
    return days


def parse_active(text: str) -> bool:
    """The active flag; empty means active."""
    flag = text.strip().casefold()
    if flag in _TRUE:
        return True
    if flag in _FALSE:
        return False
    raise ValueError("unreadable active flag: use yes/no, true/false, 1/0, y/n, x or empty")


def _name_from_url(url: str) -> str:
    return unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])


def _rows_phrase(problems: Sequence[RowProblem]) -> str:
    rows = sorted({p.row for p in problems})
    shown = ", ".join(str(r) for r in rows[:20]) + (", ..." if len(rows) > 20 else "")
    return f"{len(rows)} row{'s' if len(rows) != 1 else ''} ({shown})"
