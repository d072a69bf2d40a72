"""A small local stand-in for the Google Sheets v4 API and Google's OAuth token endpoint.

It answers exactly the calls gspread makes for this project, over real HTTP on 127.0.0.1:

* ``POST /token``: the service-account JWT grant; issues ``fake-token-N``;
* ``GET /v4/spreadsheets/{key}``: spreadsheet metadata (the worksheet list);
* ``GET /v4/spreadsheets/{key}/values/{range}``: a worksheet's values (trailing blanks
  trimmed, as Google does);
* ``POST /v4/spreadsheets/{key}/values:batchUpdate``: RAW cell writes (refused beyond the
  grid, as Google does);
* ``POST /v4/spreadsheets/{key}:batchUpdate``: ``updateSheetProperties`` (grid resize).

Every request is recorded. Faults are scripted: ``fail(status, times)`` answers the next
requests with Google-shaped errors; ``forbidden`` keys answer 403; unknown bearer tokens
answer 401 (with ``reject_bearer``, every token does); ``refuse_tokens`` makes the token
endpoint answer ``invalid_grant``.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_CELL = re.compile(r"([A-Z]+)(\d+)")


@dataclass
class Recorded:
    method: str
    path: str  # decoded
    query: dict[str, list[str]]
    body: Any  # parsed JSON, form fields, or None
    authorization: str


@dataclass
class Worksheet:
    title: str
    sheet_id: int
    values: list[list[Any]]  # str, or JSON numbers / booleans as UNFORMATTED_VALUE gives
    rows: int = 1000
    cols: int = 26


@dataclass
class Spreadsheet:
    title: str
    sheets: list[Worksheet] = field(default_factory=list)
    time_zone: str = "Europe/London"

    def sheet(self, title: str) -> Worksheet | None:
        return next((s for s in self.sheets if s.title == title), None)


class FakeSheets:
    """The fake API's state; ``start()`` serves it, ``base_url`` points gspread at it."""

    def __init__(self) -> None:
        self.spreadsheets: dict[str, Spreadsheet] = {}
        self.requests: list[Recorded] = []
        self.tokens: set[str] = set()
        self.forbidden: set[str] = set()
        self.refuse_tokens = False
        self.reject_bearer = False  # answer 401 whatever token comes
        self._faults: list[tuple[int, float | None, str]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # ---- set-up -------------------------------------------------------------------------

    def add(self, key: str, sheets: dict[str, list[list[Any]]], *, cols: int = 26) -> None:
        book = Spreadsheet(title=f"Book {key}")
        for i, (title, values) in enumerate(sheets.items()):
            book.sheets.append(Worksheet(title, 100 + i, [list(r) for r in values], cols=cols))
        self.spreadsheets[key] = book

    def fail(
        self, status: int, times: int = 1, *, retry_after: float | None = None, path: str = ""
    ) -> None:
        """Answer the next ``times`` API requests (whose path contains ``path``) with ``status``."""
        self._faults.extend([(status, retry_after, path)] * times)

    def values(self, key: str, title: str) -> list[list[Any]]:
        sheet = self.spreadsheets[key].sheet(title)
        assert sheet is not None
        return sheet.values

    def calls(self, method: str, contains: str = "") -> list[Recorded]:
        return [r for r in self.requests if r.method == method and contains in r.path]

    # ---- serving ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeSheets:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def do_PUT(self) -> None:
                self._answer("PUT")

            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, headers, payload = fake.handle(
                    method, self.path, self.headers.get("Authorization", ""), raw
                )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # quiet tests
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits up to one interval, once per test.
        server = self._server
        threading.Thread(target=lambda: server.serve_forever(0.01), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # ---- the API ------------------------------------------------------------------------

    def handle(
        self, method: str, target: str, authorization: str, raw: bytes
    ) -> tuple[int, dict[str, str], Any]:
        parts = urlsplit(target)
        path = unquote(parts.path)
        with self._lock:
            body: Any = None
            if raw and path == "/token":
                body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            elif raw:
                body = json.loads(raw)
            self.requests.append(Recorded(method, path, parse_qs(parts.query), body, authorization))
            if path == "/token":
                return self._token(body or {})
            fault = next((f for f in self._faults if f[2] in path), None)
            if fault is not None:
                self._faults.remove(fault)
                status, retry_after, _ = fault
                extra = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
                return status, extra, _error(status, "scripted failure")
            if self.reject_bearer or authorization.removeprefix("Bearer ") not in self.tokens:
                return 401, {}, _error(401, "Request had invalid authentication credentials.")
            return self._sheets(method, parts.path, body)

    def _token(self, form: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if self.refuse_tokens:
            return (
                400,
                {},
                {"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
            )
        claims = json.loads(_b64(form["assertion"].split(".")[1]))
        token = f"fake-token-{len(self.tokens) + 1}"
        self.tokens.add(token)
        return (
            200,
            {},
            {
                "access_token": token,
                "expires_in": 3600,
                "token_type": "Bearer",
                "scope_seen": claims.get("scope", ""),
            },
        )

    def _sheets(self, method: str, raw_path: str, body: Any) -> tuple[int, dict[str, str], Any]:
        rest = raw_path.removeprefix("/v4/spreadsheets/")
        head, _, tail = rest.partition("/")
        key, _, action = head.partition(":")
        key = unquote(key)
        if key in self.forbidden:
            return 403, {}, _error(403, "The caller does not have permission")
        book = self.spreadsheets.get(key)
        if book is None:
            return 404, {}, _error(404, "Requested entity was not found.")
        if method == "GET" and not tail and not action:
            return 200, {}, _metadata(key, book)
        if method == "GET" and tail.startswith("values/"):
            title, _ = _parse_range(unquote(tail.removeprefix("values/")))
            sheet = book.sheet(title)
            if sheet is None:
                return 400, {}, _error(400, f"Unable to parse range: {title}")
            return 200, {}, _value_range(sheet)
        if method == "POST" and tail == "values:batchUpdate":
            return self._write(key, book, body)
        if method == "POST" and action == "batchUpdate":
            for request in body["requests"]:
                props = request["updateSheetProperties"]["properties"]
                sheet = next(s for s in book.sheets if s.sheet_id == props["sheetId"])
                sheet.cols = props["gridProperties"].get("columnCount", sheet.cols)
                sheet.rows = props["gridProperties"].get("rowCount", sheet.rows)
            return 200, {}, {"spreadsheetId": key, "replies": [{}]}
        return 404, {}, _error(404, f"no fake for {method} {raw_path}")

    def _write(self, key: str, book: Spreadsheet, body: Any) -> tuple[int, dict[str, str], Any]:
        if body.get("valueInputOption") not in ("RAW", "USER_ENTERED"):
            return 400, {}, _error(400, "valueInputOption is required")
        planned: list[tuple[Worksheet, int, int, str]] = []
        for item in body["data"]:
            title, (row, col) = _parse_range(item["range"])
            sheet = book.sheet(title)
            if sheet is None or row > sheet.rows or col >= sheet.cols:
                return 400, {}, _error(400, f"Range ({item['range']}) exceeds grid limits.")
            planned.append((sheet, row, col, item["values"][0][0]))
        for sheet, row, col, value in planned:  # all or nothing, like the real API
            while len(sheet.values) < row:
                sheet.values.append([])
            cells = sheet.values[row - 1]
            cells.extend([""] * (col + 1 - len(cells)))
            cells[col] = value
        return 200, {}, {"spreadsheetId": key, "totalUpdatedCells": len(planned)}


def _error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "status": _STATUS.get(status, "")}}


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _metadata(key: str, book: Spreadsheet) -> dict[str, Any]:
    sheets = [
        {
            "properties": {
                "sheetId": s.sheet_id,
                "title": s.title,
                "index": i,
                "sheetType": "GRID",
                "gridProperties": {"rowCount": s.rows, "columnCount": s.cols},
            }
        }
        for i, s in enumerate(book.sheets)
    ]
    props = {"title": book.title, "locale": "en_GB", "timeZone": book.time_zone}
    return {"spreadsheetId": key, "properties": props, "sheets": sheets}


def _value_range(sheet: Worksheet) -> dict[str, Any]:
    values = [list(r) for r in sheet.values]
    for row in values:
        while row and row[-1] == "":
            row.pop()
    while values and not values[-1]:
        values.pop()
    out: dict[str, Any] = {
        "range": f"'{sheet.title}'!A1:Z{max(len(values), 1)}",
        "majorDimension": "ROWS",
    }
    if values:  # Google leaves the key out for an empty sheet
        out["values"] = values
    return out


def _parse_range(text: str) -> tuple[str, tuple[int, int]]:
    """``'It''s'!C5`` -> ("It's", (5, 2)); a bare title gives (title, (0, 0))."""
    title, bang, cell = text.rpartition("!") if "!" in text else (text, "", "")
    if title.startswith("'") and title.endswith("'"):
        title = title[1:-1].replace("''", "'")
    if not bang:
        return title, (0, 0)
    match = _CELL.fullmatch(cell)
    assert match, f"the fake only understands single cells, got {cell!r}"
    col = 0
    for ch in match.group(1):
        col = col * 26 + ord(ch) - ord("A") + 1
    return title, (int(match.group(2)), col - 1)
