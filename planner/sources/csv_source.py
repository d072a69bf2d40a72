"""Profiles from a CSV file, and outcomes written back into it atomically.

Reading: UTF-8 with or without a BOM, LF or CRLF, quoted fields holding commas and line
breaks. Row numbers are spreadsheet rows (header = 1, one per CSV record, blank lines
included), not physical lines, so a quoted line break does not shift later rows.

Writing: the file is re-read, changed cells are set, and the result replaces the file
atomically (temporary file in the same directory, fsync, ``os.replace``). Records that are
not touched keep their exact bytes; the BOM, each record's line ending, header spelling
and every other column are kept.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import os
import stat
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from planner.clock import ensure_aware_utc
from planner.sources.base import LoadResult, OutcomeUpdate
from planner.sources.columns import ColumnMapping, resolve_columns
from planner.sources.errors import (
    EmptySourceError,
    SourceEncodingError,
    SourceError,
    SourceFormatError,
    SourceNotFoundError,
    WriteBackError,
)
from planner.sources.validation import validate_records
from planner.sources.writeback import WritePlan, plan_write_back


@dataclass(frozen=True, slots=True)
class _Record:
    row: int  # spreadsheet row: the header is 1
    cells: list[str]
    raw: str  # the record's exact text, line ending included (none at a missing final EOL)


@dataclass(frozen=True, slots=True)
class _CsvText:
    bom: bool
    records: list[_Record]


class CsvSource:
    """A CSV file of profiles (see the module docstring)."""

    def __init__(self, path: Path | str, *, columns: ColumnMapping | None = None) -> None:
        self.path = Path(path)
        self.columns = dict(columns or {})

    @property
    def description(self) -> str:
        return f"CSV {self.path}"

    def __repr__(self) -> str:
        return f"CsvSource({str(self.path)!r})"

    def load(self, now: datetime, *, strict: bool = False) -> LoadResult:
        """Read and validate the file; see ``ProfileSource.load``."""
        now = ensure_aware_utc(now, what="now")
        parsed = _parse(self.path, _read(self.path))
        header = parsed.records[0].cells
        columns = resolve_columns(header, self.columns)
        data = ((r.row, r.cells) for r in parsed.records[1:])
        return validate_records(data, columns, now, source=self.description, strict=strict)

    def write_back(self, updates: Sequence[OutcomeUpdate]) -> None:
        """Record outcomes in the file; raise WriteBackError (keeping ``updates``) on failure."""
        if not updates:
            return
        target = self.path.resolve()  # through a symlink: replace the file, not the link
        try:
            before = _stat(target)  # before reading: any later change is then detected
            parsed = _parse(self.path, _read(target))
            header = parsed.records[0].cells
            columns = resolve_columns(header, self.columns)
            records = [(r.row, r.cells) for r in parsed.records[1:]]
            plan = plan_write_back(header, records, columns, updates)
            if not plan.writes:
                return
            body = _render(parsed.records, plan).encode("utf-8")
            _atomic_replace(target, (codecs.BOM_UTF8 if parsed.bom else b"") + body, before)
        except _ChangedUnderUs as exc:
            raise WriteBackError(
                f"{self.path} changed while outcomes were being written; retry the flush",
                updates=updates,
                retryable=True,
            ) from exc
        except SourceError as exc:
            raise WriteBackError(
                f"cannot write outcomes to {self.path}: {exc}", updates=updates, retryable=False
            ) from exc
        except OSError as exc:
            raise WriteBackError(
                f"cannot write outcomes to {self.path}: {exc.strerror or exc}",
                updates=updates,
                retryable=True,
            ) from exc


def _stat(path: Path) -> os.stat_result:
    try:
        return os.stat(path)
    except FileNotFoundError:
        raise SourceNotFoundError(f"profiles file {path} not found", path=path) from None


def _read(path: Path) -> bytes:
    if path.is_dir():
        raise SourceNotFoundError(f"{path} is a directory, not a CSV file", path=path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SourceNotFoundError(f"profiles file {path} not found", path=path) from None
    except OSError as exc:
        raise SourceNotFoundError(
            f"cannot read profiles file {path}: {exc.strerror or exc}", path=path
        ) from exc


def _decode(path: Path, data: bytes) -> tuple[bool, str]:
    bom = data.startswith(codecs.BOM_UTF8)
    try:
        return bom, data[len(codecs.BOM_UTF8) if bom else 0 :].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + (len(codecs.BOM_UTF8) if bom else 0)
        line = data.count(b"\n", 0, offset) + 1
        hint = ""
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            hint = " (it looks like UTF-16)"
        raise SourceEncodingError(
            f"{path} is not UTF-8{hint}: byte 0x{data[offset]:02x} at byte offset {offset} "
            f"(line {line}); save it as UTF-8",
            path=path,
            byte_offset=offset,
            line=line,
        ) from None


def _lines(text: str) -> Iterator[str]:
    # Split on "\n" only: str.splitlines() also breaks on U+2028 and friends, which may
    # sit inside a name and must not end a CSV record.
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        if end == -1:
            yield text[start:]
            return
        yield text[start : end + 1]
        start = end + 1


def _parse(path: Path, data: bytes) -> _CsvText:
    bom, text = _decode(path, data)
    consumed: list[str] = []

    def feed() -> Iterator[str]:
        for line in _lines(text):
            consumed.append(line)
            yield line

    # csv.reader pulls exactly the lines of one record before yielding it, so the lines
    # consumed since the previous record are this record's raw text.
    records: list[_Record] = []
    reader = csv.reader(feed())
    try:
        for cells in reader:
            records.append(_Record(len(records) + 1, cells, "".join(consumed)))
            consumed.clear()
    except csv.Error as exc:
        raise SourceFormatError(f"{path}: row {len(records) + 1}: {exc}") from exc
    if not records or not any(c.strip() for c in records[0].cells):
        raise EmptySourceError(f"{path} is empty: expected a header row on row 1")
    return _CsvText(bom=bom, records=records)


def _quote(value: str) -> str:
    if any(ch in value for ch in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _split_ending(raw: str) -> tuple[str, str]:
    for ending in ("\r\n", "\n"):
        if raw.endswith(ending):
            return raw[: -len(ending)], ending
    return raw, ""


def _render(records: Sequence[_Record], plan: WritePlan) -> str:
    by_row: dict[int, dict[int, str]] = {}
    for w in plan.writes:
        by_row.setdefault(w.row, {})[w.col] = w.value
    pad_to = plan.width if plan.added_columns else 0
    out: list[str] = []
    for rec in records:
        writes = by_row.get(rec.row, {})
        if not rec.cells and not writes:  # a blank line stays blank
            out.append(rec.raw)
            continue
        width = max([len(rec.cells), pad_to, *(c + 1 for c in writes)])
        if not writes and width == len(rec.cells):
            out.append(rec.raw)
            continue
        body, ending = _split_ending(rec.raw)
        if all(c >= len(rec.cells) for c in writes) and rec.cells:
            # Only new trailing cells: append them and keep the record's bytes as they are.
            tail = [writes.get(c, "") for c in range(len(rec.cells), width)]
            out.append(body + "".join("," + _quote(v) for v in tail) + ending)
        else:
            cells = rec.cells + [""] * (width - len(rec.cells))
            for col, value in writes.items():
                cells[col] = value
            out.append(",".join(_quote(c) for c in cells) + ending)
    return "".join(out)


class _ChangedUnderUs(Exception):
    """The file changed between our read and our replace (someone saved it meanwhile)."""


def _atomic_replace(target: Path, data: bytes, before: os.stat_result) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, stat.S_IMODE(before.st_mode))
        now = os.stat(target)
        if (now.st_mtime_ns, now.st_size, now.st_ino) != (
            before.st_mtime_ns,
            before.st_size,
            before.st_ino,
        ):
            raise _ChangedUnderUs(str(target))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(target.parent)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not every platform lets a directory be opened.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


__all__ = ["CsvSource"]
