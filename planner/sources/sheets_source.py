"""Profiles from a Google Sheets worksheet, and outcomes written back into it.

Same columns and validation as the CSV source. The spreadsheet is named by key or URL,
the worksheet by title (default: the first one).

Cells are read unformatted, so the sheet's locale cannot change their meaning: a real date
cell (a serial number) becomes that day, 00:00 UTC, like a date-only CSV value; a
date-time cell is read as wall time in the spreadsheet's time zone; ISO 8601 text works as
in a CSV; a checkbox reads as TRUE / FALSE; numbers keep a dot as decimal separator.

Every ``load`` reads the sheet afresh; a failure raises (nothing is planned from stale
data). ``write_back`` re-reads the sheet, then sends one ``values:batchUpdate`` (RAW
values) for the whole flush, plus one resize beforehand when new columns do not fit the
grid. Writes pass through a per-minute quota; 429 / 5xx are retried with backoff, which
is safe because both writes set absolute values (repeating one changes nothing).

Known limit: the Sheets API has no conditional write, so a row inserted by hand between
the re-read and the batch update (well under a second) would shift the target cells.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import gspread
from google.auth.credentials import Credentials
from gspread.utils import DateTimeOption, ValueRenderOption

from planner.clock import ensure_aware_utc
from planner.sources.base import LoadResult, OutcomeUpdate
from planner.sources.columns import DATE, ColumnMap, ColumnMapping, resolve_columns
from planner.sources.errors import (
    EmptySourceError,
    SheetsError,
    SheetsUnavailableError,
    SourceError,
    WriteBackError,
)
from planner.sources.sheets_api import (
    GOOGLE_WRITES_PER_MINUTE,
    RetryPolicy,
    SheetsApi,
    build_client,
    load_credentials,
)
from planner.sources.validation import validate_records
from planner.sources.writeback import CellWrite, plan_write_back

_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SHEETS_EPOCH = datetime(1899, 12, 30)  # noqa: DTZ001 - serials are wall-clock days


def spreadsheet_key(key_or_url: str) -> str:
    """The spreadsheet id from a bare key or a ``docs.google.com/spreadsheets/d/...`` URL."""
    text = key_or_url.strip()
    if text.lower().startswith(("http://", "https://")):
        try:
            return gspread.utils.extract_id_from_url(text)
        except gspread.exceptions.NoValidUrlKeyFound:
            raise SourceError(
                f"{text!r} is not a Google Sheets URL (expected .../spreadsheets/d/KEY/...)"
            ) from None
    if not _KEY.fullmatch(text):
        raise SourceError(f"{text!r} is not a spreadsheet key or URL")
    return text


def a1(sheet_title: str, row: int, col: int) -> str:
    """``'Sheet 1'!C5`` for 1-based ``row`` and 0-based ``col``."""
    letters = ""
    n = col + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(ord("A") + rem) + letters
    return "'" + sheet_title.replace("'", "''") + f"'!{letters}{row}"


class SheetsSource:
    """A worksheet of profiles in Google Sheets (see the module docstring).

    ``client`` or ``credentials`` / ``api_base_url`` are for tests and embedding; normally
    only ``credentials_file`` (GOOGLE_SERVICE_ACCOUNT_FILE) is given and the client is
    built on first use.
    """

    def __init__(
        self,
        spreadsheet: str,
        worksheet: str | None = None,
        *,
        credentials_file: Path | None = None,
        credentials: Credentials | None = None,
        client: gspread.Client | None = None,
        api_base_url: str | None = None,
        columns: ColumnMapping | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        writes_per_minute: int = GOOGLE_WRITES_PER_MINUTE,
    ) -> None:
        self.key = spreadsheet_key(spreadsheet)
        self.worksheet_name = worksheet or None
        self.columns = dict(columns or {})
        self._credentials_file = credentials_file
        self._credentials = credentials
        self._client = client
        self._api_base_url = api_base_url
        self.api = SheetsApi(
            retry=retry,
            sleep=sleep,
            rng=rng,
            monotonic=monotonic,
            writes_per_minute=writes_per_minute,
        )

    @property
    def description(self) -> str:
        sheet = f"worksheet {self.worksheet_name!r}" if self.worksheet_name else "first worksheet"
        return f"Google Sheet {self.key} ({sheet})"

    def __repr__(self) -> str:  # no credentials in here, on purpose
        return f"SheetsSource({self.key!r}, {self.worksheet_name!r})"

    def load(self, now: datetime, *, strict: bool = False) -> LoadResult:
        """Read and validate the worksheet; see ``ProfileSource.load``."""
        now = ensure_aware_utc(now, what="now")
        table = self._table()
        data = ((i, cells) for i, cells in enumerate(table.rows, start=2))
        return validate_records(data, table.columns, now, source=self.description, strict=strict)

    def write_back(self, updates: Sequence[OutcomeUpdate]) -> None:
        """One batch update for all ``updates``; WriteBackError (keeping them) on failure."""
        if not updates:
            return
        try:
            table = self._table()
            ws = table.worksheet
            records = list(enumerate(table.rows, start=2))
            plan = plan_write_back(table.header, records, table.columns, updates)
            if not plan.writes:
                return
            if plan.width > ws.col_count:
                grow = plan.width - ws.col_count
                what = f"{self.description}: adding columns"
                self.api.call(lambda: ws.add_cols(grow), what=what, write=True)
            body = _batch_body(ws.title, plan.writes)
            self.api.call(
                lambda: ws.client.values_batch_update(ws.spreadsheet_id, body=body),
                what=f"{self.description}: writing outcomes",
                write=True,
            )
        except SheetsUnavailableError as exc:
            raise WriteBackError(str(exc), updates=updates, retryable=True) from exc
        except SourceError as exc:
            raise WriteBackError(
                f"outcomes not written: {exc}", updates=updates, retryable=False
            ) from exc

    # ---- internals ----------------------------------------------------------------------

    def _gspread(self) -> gspread.Client:
        if self._client is None:
            if self._credentials is None and self._credentials_file is not None:
                self._credentials = load_credentials(self._credentials_file)
            # The account's e-mail (not a secret) tells the user whom to share the sheet with.
            self.api.account_hint = getattr(self._credentials, "service_account_email", "") or ""
            self._client = build_client(
                self._credentials_file,
                credentials=self._credentials,
                api_base_url=self._api_base_url,
            )
        return self._client

    def _open(self) -> tuple[gspread.Spreadsheet, gspread.Worksheet]:
        client = self._gspread()
        what = f"opening spreadsheet {self.key}"
        sheet = self.api.call(lambda: client.open_by_key(self.key), what=what)
        name = self.worksheet_name
        if name is None:
            try:
                return sheet, self.api.call(lambda: sheet.get_worksheet(0), what=what)
            except gspread.exceptions.WorksheetNotFound:
                raise SheetsError(f"spreadsheet {self.key} has no worksheet") from None
        try:
            return sheet, self.api.call(lambda: sheet.worksheet(name), what=what)
        except gspread.exceptions.WorksheetNotFound:
            titles = [ws.title for ws in self.api.call(sheet.worksheets, what=what)]
            raise SheetsError(
                f"spreadsheet {self.key} has no worksheet {name!r}; it has: "
                + ", ".join(repr(t) for t in titles)
            ) from None

    def _table(self) -> _Table:
        """The worksheet's cells as text, read afresh on every call (never stale)."""
        sheet, ws = self._open()
        raw: Any = self.api.call(
            lambda: ws.get_all_values(
                value_render_option=ValueRenderOption.unformatted,
                date_time_render_option=DateTimeOption.serial_number,
            ),
            what=f"{self.description}: reading",
        )
        if not raw or not any(_text(c).strip() for c in raw[0]):
            raise EmptySourceError(f"{self.description} is empty: expected a header on row 1")
        header = [_text(c) for c in raw[0]]
        columns = resolve_columns(header, self.columns)
        date_col, zone = columns.get(DATE), _zone(sheet)
        rows = [
            [
                _serial_to_iso(c, zone) if i == date_col and _is_number(c) else _text(c)
                for i, c in enumerate(row)
            ]
            for row in raw[1:]
        ]
        return _Table(ws, header, rows, columns)


@dataclass(frozen=True, slots=True)
class _Table:
    worksheet: gspread.Worksheet
    header: list[str]
    rows: list[list[str]]  # data rows: the first is spreadsheet row 2
    columns: ColumnMap


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _zone(sheet: gspread.Spreadsheet) -> ZoneInfo:
    try:
        return ZoneInfo(sheet.timezone)
    except (KeyError, ValueError, ZoneInfoNotFoundError):
        return ZoneInfo("UTC")


def _serial_to_iso(serial: float, zone: ZoneInfo) -> str:
    """A Sheets date serial (days since 1899-12-30) as ISO text ``parse_when`` reads."""
    try:
        moment = _SHEETS_EPOCH + timedelta(days=serial)
    except OverflowError:
        return str(serial)  # reported as an unparseable date
    if float(serial).is_integer():
        return moment.date().isoformat()  # a date cell: 00:00 UTC, as in a CSV
    return moment.replace(tzinfo=zone).isoformat(timespec="seconds")


def _batch_body(title: str, writes: Sequence[CellWrite]) -> dict[str, Any]:
    # RAW: a date written as text stays ISO text; USER_ENTERED would turn it into a
    # locale-formatted date that reads back ambiguously.
    return {
        "valueInputOption": "RAW",
        "data": [
            {"range": a1(title, w.row, w.col), "majorDimension": "ROWS", "values": [[w.value]]}
            for w in writes
        ],
    }
