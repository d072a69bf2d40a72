"""The CSV profile source: reading, row-by-row validation, write-back."""

from __future__ import annotations

import codecs
import csv
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from planner.sources import (
    ColumnError,
    CsvSource,
    EmptySourceError,
    InvalidRowsError,
    NoValidRowsError,
    OutcomeUpdate,
    RowProblem,
    SourceEncodingError,
    SourceError,
    SourceFormatError,
    SourceNotFoundError,
    WriteBackError,
    format_problems,
    summarise_problems,
)

NOW = datetime(2026, 2, 9, 8, 0, tzinfo=UTC)
DATA = Path(__file__).parent / "data"

# Expected problems of bad_rows.csv at NOW: row, column, value, words in the reason.
with (DATA / "bad_rows_expected.csv").open(encoding="utf-8", newline="") as fh:
    BAD_ROWS = [(int(r), c, v, w) for r, c, v, w in list(csv.reader(fh))[1:]]


def write(tmp_path: Path, text: str, *, name: str = "p.csv", bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + text.encode("utf-8"))
    return path


def assert_bad_rows(problems: list) -> None:  # type: ignore[type-arg]
    assert [(p.row, p.column, p.value) for p in problems] == [b[:3] for b in BAD_ROWS]
    for problem, (*_, words) in zip(problems, BAD_ROWS, strict=True):
        assert words in problem.reason, problem


def test_example_file_loads_every_row(examples_dir: Path) -> None:
    """The shipped example loads 100 profiles without a problem at the repo's date."""
    result = CsvSource(examples_dir / "profiles.csv").load(datetime(2026, 11, 28, tzinfo=UTC))
    assert len(result.profiles) == 100 and result.problems == []
    assert result.profiles[0].row == 2 and result.profiles[-1].row == 101


def test_lenient_load_skips_each_bad_row_with_its_row_number() -> None:
    """Every validation rule reports the exact spreadsheet row; good rows still load."""
    result = CsvSource(DATA / "bad_rows.csv").load(NOW)
    assert_bad_rows(result.problems)
    assert [p.row for p in result.profiles] == [2, 16, 17]
    ada, iv, jo = result.profiles
    assert ada.last_engaged_at == datetime(2026, 2, 1, tzinfo=UTC)
    assert iv.last_engaged_at == datetime(2026, 2, 9, 6, 30, tzinfo=UTC) and not iv.active
    assert jo.last_engaged_at is None and jo.active
    assert result.skipped_rows == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 18, 19, 20]


def test_strict_load_refuses_the_source_with_the_same_problems() -> None:
    """Strict mode raises InvalidRowsError carrying exactly the lenient problem list."""
    with pytest.raises(InvalidRowsError) as info:
        CsvSource(DATA / "bad_rows.csv").load(NOW, strict=True)
    assert_bad_rows(list(info.value.problems))
    assert "16 rows (3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 18, 19, 20)" in str(info.value)


@pytest.mark.parametrize("strict", [False, True])
def test_no_valid_row_refuses_to_plan(tmp_path: Path, strict: bool) -> None:
    """A file whose every row is bad raises NoValidRowsError naming rows 2 and 3."""
    path = write(tmp_path, "url,name\nnope,A\n,B\n")
    with pytest.raises(NoValidRowsError, match=r"no valid row; 2 rows \(2, 3\)") as info:
        CsvSource(path).load(NOW, strict=strict)
    assert [(p.row, p.reason) for p in info.value.problems] == [
        (2, "malformed URL: must start with http:// or https://"),
        (3, "missing URL"),
    ]


@pytest.mark.parametrize(
    "headers",
    [
        "LinkedIn URL,Full name,Last like,Active",
        "url,Name,last_liked,enabled",
        "profile_url,NAME,last_engaged,ACTIVE",
        " LINKEDIN-URL ,full_name,Last Engaged At,Is Active",
    ],
)
def test_header_spellings_with_a_date(tmp_path: Path, headers: str) -> None:
    """Common spellings of url, name, last-like date and active are recognised."""
    path = write(tmp_path, f"{headers}\nhttps://x.com/in/a,Ada,2026-02-01,no\n")
    (p,) = CsvSource(path).load(NOW).profiles
    assert (p.name, p.last_engaged_at, p.active) == ("Ada", datetime(2026, 2, 1, tzinfo=UTC), False)


@pytest.mark.parametrize("days_header", ["Days since", "days_since", "days_since_last_like"])
def test_header_spellings_with_days(tmp_path: Path, days_header: str) -> None:
    """A days-since column gives now minus that many (fractional) days."""
    path = write(tmp_path, f"linkedin_url,{days_header}\nhttps://x.com/in/a,1.5\n")
    (p,) = CsvSource(path).load(NOW).profiles
    assert p.last_engaged_at == NOW - timedelta(days=1.5)


def test_explicit_mapping_overrides_spellings(tmp_path: Path) -> None:
    """An explicit field -> header mapping reads columns no spelling would match."""
    path = write(tmp_path, "Who,Link,url,Touched\nAda,https://x.com/in/a,ignored,2026-02-01\n")
    source = CsvSource(
        path, columns={"linkedin_url": "link", "name": "WHO", "last_like_date": "touched"}
    )
    (p,) = source.load(NOW).profiles
    assert (p.linkedin_url, p.name, p.row) == ("https://x.com/in/a", "Ada", 2)


@pytest.mark.parametrize(
    ("text", "columns", "error", "words"),
    [
        ("name,active\nAda,yes\n", None, ColumnError, "no profile URL column"),
        ("url,LinkedIn URL\na,b\n", None, ColumnError, "'url' and 'LinkedIn URL' could both be"),
        ("url,name\nhttps://x.com/in/a,A\n", {"name": "Full"}, ColumnError, "'Full'"),
        ("url,name\nhttps://x.com/in/a,A\n", {"nick": "name"}, SourceError, "unknown field"),
        ("", None, EmptySourceError, "empty"),
        ("url,name\n", None, EmptySourceError, "no data rows"),
        ("url,name\n\n,\n", None, EmptySourceError, "no data rows"),
    ],
)
def test_unusable_sources_name_what_is_missing(
    tmp_path: Path, text: str, columns: dict[str, str] | None, error: type, words: str
) -> None:
    """Missing or ambiguous columns and empty files are refused with a clear message."""
    with pytest.raises(error, match=words.replace("(", r"\(")):
        CsvSource(write(tmp_path, text), columns=columns).load(NOW)


def test_bom_crlf_quoted_newlines_and_unicode(tmp_path: Path) -> None:
    """BOM, CRLF, quoted commas and line breaks and any Unicode keep spreadsheet rows."""
    text = (
        "linkedin_url,name,days_since\r\n"
        'https://x.com/in/a,"Lovelace, Ada\r\nCountess",1\r\n'
        '"https://x.com/in/b","Zoë ""Z"" Ångström 李小龙 🦜",2\r\n'
        "https://x.com/in/c,Line\u2028Sep,3\r\n"
        "\r\n"
        "nope,Bad,1\r\n"
    )
    result = CsvSource(write(tmp_path, text, bom=True)).load(NOW)
    names = [(p.row, p.name) for p in result.profiles]
    assert names == [
        (2, "Lovelace, Ada\r\nCountess"),
        (3, 'Zoë "Z" Ångström 李小龙 🦜'),
        (4, "Line\u2028Sep"),
    ]
    assert [(p.row, p.value) for p in result.problems] == [(6, "nope")]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("2026-02-01", datetime(2026, 2, 1, tzinfo=UTC)),
        ("2026-02-01T10:15", datetime(2026, 2, 1, 10, 15, tzinfo=UTC)),
        ("2026-02-01 10:15:30Z", datetime(2026, 2, 1, 10, 15, 30, tzinfo=UTC)),
        ("2026-02-01T10:15:00-05:00", datetime(2026, 2, 1, 15, 15, tzinfo=UTC)),
        ("2026-02-09", datetime(2026, 2, 9, tzinfo=UTC)),  # today counts, not future
        ("2026-02-09T08:04:00Z", NOW),  # clock skew within FUTURE_TOLERANCE: now
    ],
)
def test_date_forms(tmp_path: Path, cell: str, expected: datetime) -> None:
    """Date-only is 00:00 UTC; a naive time is UTC; an offset is converted; skew is now."""
    path = write(tmp_path, f"url,last like\nhttps://x.com/in/a,{cell}\n")
    assert CsvSource(path).load(NOW).profiles[0].last_engaged_at == expected


def test_date_wins_over_days_and_name_falls_back_to_url(tmp_path: Path) -> None:
    """With both a date and days on a row the date is used; no name -> URL slug."""
    path = write(
        tmp_path, "url,name,last_like_date,days_since\nhttps://x.com/in/zo%C3%AB/,,2026-02-01,1\n"
    )
    (p,) = CsvSource(path).load(NOW).profiles
    assert p.last_engaged_at == datetime(2026, 2, 1, tzinfo=UTC) and p.name == "zoë"


ACTIVE_FLAGS = [(f, True) for f in ("yes", "TRUE", "1", "y", "x", "", " Yes ", "on")] + [
    (f, False) for f in ("No", "false", "0", "n", "OFF")
]


def test_active_flags(tmp_path: Path) -> None:
    """Accepted flags (empty = active); inactive profiles are kept with active=False."""
    rows = "".join(f"https://x.com/in/{i},{flag}\n" for i, (flag, _) in enumerate(ACTIVE_FLAGS))
    profiles = CsvSource(write(tmp_path, "url,active\n" + rows)).load(NOW).profiles
    assert [p.active for p in profiles] == [active for _, active in ACTIVE_FLAGS]


def test_extra_and_short_cells(tmp_path: Path) -> None:
    """Cells beyond the header and missing trailing cells are fine."""
    path = write(
        tmp_path,
        "url,name,active,notes\nhttps://x.com/in/a,A,yes,n,extra,more\nhttps://x.com/in/b\n",
    )
    assert [p.name for p in CsvSource(path).load(NOW).profiles] == ["A", "b"]


def test_non_utf8_names_the_byte_offset(tmp_path: Path) -> None:
    """A Latin-1 byte is reported with its byte offset (BOM included) and line."""
    path = tmp_path / "latin1.csv"
    path.write_bytes(codecs.BOM_UTF8 + b"url,name\nhttps://x.com/in/a,Zo\xeb\n")
    with pytest.raises(
        SourceEncodingError, match="byte 0xeb at byte offset 33 \\(line 2\\)"
    ) as info:
        CsvSource(path).load(NOW)
    assert (info.value.byte_offset, info.value.line) == (33, 2)


def test_utf16_is_recognised(tmp_path: Path) -> None:
    """A UTF-16 export gets a hint instead of a bare decoding error."""
    path = tmp_path / "u16.csv"
    path.write_bytes("url\nhttps://x.com/in/a\n".encode("utf-16"))
    with pytest.raises(SourceEncodingError, match=r"looks like UTF-16.*byte offset 0"):
        CsvSource(path).load(NOW)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    """A missing path and a directory both raise SourceNotFoundError with the path."""
    with pytest.raises(SourceNotFoundError, match=r"profiles file .*nope\.csv not found"):
        CsvSource(tmp_path / "nope.csv").load(NOW)
    with pytest.raises(SourceNotFoundError, match="is a directory"):
        CsvSource(tmp_path).load(NOW)


def test_unreadable_csv_names_the_row(tmp_path: Path) -> None:
    """A field beyond the csv module's size limit is a format error on its row."""
    path = write(
        tmp_path, "url,name\nhttps://x.com/in/a,A\nhttps://x.com/in/b," + "x" * 200_000 + "\n"
    )
    with pytest.raises(SourceFormatError, match="row 3"):
        CsvSource(path).load(NOW)


def test_naive_now_is_refused(tmp_path: Path) -> None:
    """``now`` must be aware: a naive clock would silently shift every date."""
    with pytest.raises(ValueError, match="naive"):
        CsvSource(write(tmp_path, "url\nhttps://x.com/in/a\n")).load(datetime(2026, 2, 9))


# ---- write-back -----------------------------------------------------------------------

T1 = datetime(2026, 2, 9, 10, 0, tzinfo=UTC)


def done(key: str, at: datetime = T1) -> OutcomeUpdate:
    return OutcomeUpdate(key, at, "done", at)


def test_write_back_appends_outcome_column_and_keeps_other_bytes(tmp_path: Path) -> None:
    """Untouched records keep their bytes (plus the new empty cell); touched ones change."""
    text = (
        'linkedin_url,Name,last_like_date,"extra"\n'
        'https://x.com/in/a,"Ada",2026-01-01,"keep, me"\n'
        "https://x.com/in/b,Bob,,\n"
        "\n"
        "https://x.com/in/c,Cy,2026-01-02\n"
    )
    path = write(tmp_path, text)
    CsvSource(path).write_back(
        [done("https://www.x.com/in/b/"), OutcomeUpdate("https://x.com/in/c", None, "no_posts", T1)]
    )
    assert path.read_text("utf-8") == (
        'linkedin_url,Name,last_like_date,"extra",last_outcome\n'
        'https://x.com/in/a,"Ada",2026-01-01,"keep, me",\n'
        "https://x.com/in/b,Bob,2026-02-09T10:00:00Z,,done\n"
        "\n"
        "https://x.com/in/c,Cy,2026-01-02,,no_posts\n"
    )
    assert [p.last_engaged_at for p in CsvSource(path).load(T1).profiles][1] == T1


def test_write_back_preserves_bom_crlf_quoting_and_unicode(tmp_path: Path) -> None:
    """BOM, CRLF, a quoted multi-line name and Unicode survive; the header is kept."""
    text = 'LinkedIn URL,Full name,Last like,Last Outcome\r\nhttps://x.com/in/a,"Zoë\r\nÅ, 🦜",,\r\nhttps://x.com/in/b,B,,failed\r\n'
    path = write(tmp_path, text, bom=True)
    CsvSource(path).write_back([done("https://x.com/in/a")])
    raw = path.read_bytes()
    assert raw.startswith(codecs.BOM_UTF8)
    assert raw[3:].decode("utf-8") == text.replace(
        ',"Zoë\r\nÅ, 🦜",,\r\n', ',"Zoë\r\nÅ, 🦜",2026-02-09T10:00:00Z,done\r\n'
    )
    (a, b) = CsvSource(path).load(T1).profiles
    assert (a.name, a.last_engaged_at, b.row) == ("Zoë\r\nÅ, 🦜", T1, 3)


def test_write_back_into_days_only_file_adds_a_date_that_wins(tmp_path: Path) -> None:
    """A days-only file gains last_like_date and last_outcome; the date then wins."""
    path = write(tmp_path, "url,days_since\nhttps://x.com/in/a,9\nhttps://x.com/in/b,3\n")
    CsvSource(path).write_back([done("https://x.com/in/a")])
    assert path.read_text() == (
        "url,days_since,last_like_date,last_outcome\n"
        "https://x.com/in/a,9,2026-02-09T10:00:00Z,done\n"
        "https://x.com/in/b,3,,\n"
    )
    later = T1 + timedelta(days=2)
    assert CsvSource(path).load(later).profiles[0].last_engaged_at == T1


def test_write_back_never_moves_a_date_backwards_and_collapses(tmp_path: Path) -> None:
    """An older success keeps the newer date; a later failure keeps the earlier success."""
    path = write(
        tmp_path,
        "url,last_like_date,last_outcome\nhttps://x.com/in/a,2026-02-09T12:00:00Z,\nhttps://x.com/in/b,,\n",
    )
    b = "https://x.com/in/b"
    CsvSource(path).write_back(
        [
            done("https://x.com/in/a"),
            OutcomeUpdate(b, None, "failed", T1 + timedelta(hours=1)),
            done(b),
        ]
    )
    assert path.read_text().splitlines()[1:] == [
        "https://x.com/in/a,2026-02-09T12:00:00Z,done",
        "https://x.com/in/b,2026-02-09T10:00:00Z,failed",
    ]


def test_write_back_of_unknown_profile_leaves_file_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A profile removed from the file since planning is skipped with a warning."""
    path = write(tmp_path, "url\nhttps://x.com/in/a\n")
    before = path.stat().st_mtime_ns
    with caplog.at_level(logging.WARNING):
        CsvSource(path).write_back([done("https://x.com/in/gone")])
    assert path.read_text() == "url\nhttps://x.com/in/a\n" and path.stat().st_mtime_ns == before
    assert "1 profile(s) no longer in the source" in caplog.text


def test_failed_replace_keeps_original_and_updates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed rename leaves the original intact and no temp file; the error keeps updates."""
    path = write(tmp_path, "url\nhttps://x.com/in/a\n")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("planner.sources.csv_source.os.replace", broken_replace)
    updates = [done("https://x.com/in/a")]
    with pytest.raises(WriteBackError, match="No space left") as info:
        CsvSource(path).write_back(updates)
    assert info.value.updates == tuple(updates) and info.value.retryable
    assert path.read_text() == "url\nhttps://x.com/in/a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv"]


def test_concurrent_edit_is_not_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A save by someone else between our read and our rename wins; we retry later."""
    path = write(tmp_path, "url\nhttps://x.com/in/a\n")
    real_chmod = os.chmod

    def chmod_then_user_saves(target: Path, mode: int) -> None:
        real_chmod(target, mode)
        path.write_text("url\nhttps://x.com/in/a\nhttps://x.com/in/new\n")

    monkeypatch.setattr("planner.sources.csv_source.os.chmod", chmod_then_user_saves)
    with pytest.raises(WriteBackError, match="changed while") as info:
        CsvSource(path).write_back([done("https://x.com/in/a")])
    assert info.value.retryable
    assert path.read_text().endswith("in/new\n")


def test_write_back_keeps_mode_and_symlink(tmp_path: Path) -> None:
    """The file's permissions are kept and a symlink still points at the real file."""
    real = write(tmp_path, "url\nhttps://x.com/in/a\n", name="real.csv")
    real.chmod(0o640)
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    CsvSource(link).write_back([done("https://x.com/in/a")])
    assert link.is_symlink() and (real.stat().st_mode & 0o777) == 0o640
    assert "done" in real.read_text()


def test_write_back_to_missing_file_raises_write_back_error(tmp_path: Path) -> None:
    """Nowhere to write is a WriteBackError carrying the updates (not retryable as is)."""
    with pytest.raises(WriteBackError, match="not found") as info:
        CsvSource(tmp_path / "gone.csv").write_back([done("https://x.com/in/a")])
    assert not info.value.retryable and len(info.value.updates) == 1


# ---- reporting ---------------------------------------------------


def test_format_problems_renders_a_table_without_markup() -> None:
    """The CLI table shows row, column, value (escaped) and reason."""
    problems = [*CsvSource(DATA / "bad_rows.csv").load(NOW).problems]
    problems.append(RowProblem(21, "name", "[bold]x[/bold]", "r"))
    console = Console(width=200, record=True)
    console.print(format_problems(problems))
    out = console.export_text()
    assert "duplicate of row 2" in out and "(empty)" in out and "[bold]x[/bold]" in out
    assert summarise_problems(problems[:1]) == "1 row skipped: row 3 (missing URL)"
