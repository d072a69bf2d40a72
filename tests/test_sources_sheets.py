"""The Google Sheets source: gspread's real code over real HTTP against tests/fake_sheets."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.oauth2.credentials import Credentials

from config.settings import Settings
from planner.sources import (
    CsvSource,
    EmptySourceError,
    InvalidRowsError,
    OutcomeUpdate,
    SheetsAuthError,
    SheetsError,
    SheetsSource,
    SheetsUnavailableError,
    SourceError,
    WriteBackError,
    open_source,
    spreadsheet_key,
)
from planner.sources.sheets_source import a1
from tests.fake_sheets import FakeSheets

NOW = datetime(2026, 2, 9, 8, 0, tzinfo=UTC)
T1 = datetime(2026, 2, 9, 10, 0, tzinfo=UTC)
KEY = "1AbCdEfGhIjK_test-sheet"
EMAIL = "planner@test-project.iam.gserviceaccount.com"
ROWS = [
    ["LinkedIn URL", "Full name", "Last like", "Active", "Notes"],
    ["https://www.linkedin.com/in/ada", "Ada Lovelace", "2026-02-01", "TRUE", "x"],
    ["not a url", "Bad", "", "", ""],
    [],
    ["https://linkedin.com/in/zoe", "Zoë Ångström", "2026-03-01", "FALSE"],
    ["HTTPS://LinkedIn.com/in/ada/", "Dup", "", ""],
    ["https://linkedin.com/in/bo", "Bo", "", "no"],
]


class FakeTime:
    """Injected sleep and monotonic clock: sleeping only moves this clock."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(scope="module")
def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSheets]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # a developer's proxy must not intercept
    server = FakeSheets().start()
    server.add(KEY, {"Profiles": [list(r) for r in ROWS], "Other": [["url"]]})
    yield server
    server.stop()


@pytest.fixture
def key_file(tmp_path: Path, fake: FakeSheets, private_key_pem: str) -> Path:
    """A real service-account key file whose token endpoint is the fake server."""
    info = {
        "type": "service_account",
        "project_id": "test-project",
        "private_key_id": "k1",
        "private_key": private_key_pem,
        "client_email": EMAIL,
        "client_id": "1",
        "token_uri": f"{fake.base_url}/token",
    }
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info))
    return path


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


def make(fake: FakeSheets, key_file: Path, clock: FakeTime, **kw: object) -> SheetsSource:
    return SheetsSource(
        KEY,
        kw.pop("worksheet", None),  # type: ignore[arg-type]
        credentials_file=key_file,
        api_base_url=fake.base_url,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
        rng=random.Random(7),
        **kw,  # type: ignore[arg-type]
    )


def test_reads_first_worksheet_over_http(fake: FakeSheets, key_file: Path, clock: FakeTime) -> None:
    """Token grant, metadata and values calls; rows numbered as the sheet shows them."""
    result = make(fake, key_file, clock).load(NOW)
    assert [(p.row, p.name, p.active) for p in result.profiles] == [
        (2, "Ada Lovelace", True),
        (7, "Bo", False),
    ]
    expected = [(3, "LinkedIn URL", "malformed URL"), (5, "Last like", "date in the future")]
    expected.append((6, "LinkedIn URL", "duplicate of row 2"))
    assert [(p.row, p.column) for p in result.problems] == [e[:2] for e in expected]
    assert all(e[2] in p.reason for p, e in zip(result.problems, expected, strict=True))
    assert [(r.method, r.path) for r in fake.requests] == [
        ("POST", "/token"),
        ("GET", f"/v4/spreadsheets/{KEY}"),  # open_by_key
        ("GET", f"/v4/spreadsheets/{KEY}"),  # the worksheet list
        ("GET", f"/v4/spreadsheets/{KEY}/values/'Profiles'"),
    ]
    assert {r.authorization for r in fake.requests[1:]} == {"Bearer fake-token-1"}
    assert result.source == f"Google Sheet {KEY} (first worksheet)" and clock.sleeps == []


def test_strict_load_raises_with_the_same_rows(
    fake: FakeSheets, key_file: Path, clock: FakeTime
) -> None:
    """Strict mode refuses the sheet and names rows 3, 5 and 6."""
    with pytest.raises(InvalidRowsError, match=r"3 rows \(3, 5, 6\)") as info:
        make(fake, key_file, clock).load(NOW, strict=True)
    assert [p.row for p in info.value.problems] == [3, 5, 6]


def test_worksheet_by_name_url_and_missing(
    fake: FakeSheets, key_file: Path, clock: FakeTime
) -> None:
    """A named worksheet is used; an unknown one lists the worksheets there are."""
    url = f"https://docs.google.com/spreadsheets/d/{KEY}/edit#gid=0"
    fake.values(KEY, "Other").append(["https://x.com/in/a"])
    source = SheetsSource(url, "Other", credentials_file=key_file, api_base_url=fake.base_url)
    assert [p.row for p in source.load(NOW).profiles] == [2]
    with pytest.raises(SheetsError, match="no worksheet 'Nope'; it has: 'Profiles', 'Other'"):
        make(fake, key_file, clock, worksheet="Nope").load(NOW)
    with pytest.raises(SheetsError, match="not found \\(HTTP 404\\)"):
        SheetsSource("unknown", credentials_file=key_file, api_base_url=fake.base_url).load(NOW)


def test_empty_worksheet_is_refused(fake: FakeSheets, key_file: Path, clock: FakeTime) -> None:
    """A worksheet with no header is an EmptySourceError, not an empty plan."""
    fake.add(KEY, {"Profiles": []})
    with pytest.raises(EmptySourceError, match="expected a header on row 1"):
        make(fake, key_file, clock).load(NOW)


def test_429_then_success_backs_off_once(fake: FakeSheets, key_file: Path, clock: FakeTime) -> None:
    """A 429 with Retry-After is waited out (injected sleep) and the read succeeds."""
    fake.fail(429, retry_after=3)
    assert len(make(fake, key_file, clock).load(NOW).profiles) == 2
    assert clock.sleeps == [3.0]


def test_repeated_500s_give_a_clear_error_after_bounded_retries(
    fake: FakeSheets, key_file: Path, clock: FakeTime
) -> None:
    """Five 500s: four jittered, growing waits, then SheetsUnavailableError; no profiles."""
    fake.fail(500, times=5)
    with pytest.raises(SheetsUnavailableError, match=r"HTTP 500\) after 5 attempts") as info:
        make(fake, key_file, clock).load(NOW)
    assert info.value.attempts == 5 and info.value.status == 500
    assert len(fake.calls("GET")) == 5
    for attempt, slept in enumerate(clock.sleeps, start=1):
        cap = 2.0 ** (attempt - 1)
        assert cap / 2 <= slept <= cap
    assert len(clock.sleeps) == 4


def test_unreachable_server_is_retried_then_reported(fake: FakeSheets, clock: FakeTime) -> None:
    """Connection refused is transient: bounded retries, then SheetsUnavailableError."""
    closed = fake.base_url
    fake.stop()  # nothing listens on this port any more
    source = SheetsSource(
        KEY,
        credentials=Credentials(token="t"),  # type: ignore[no-untyped-call]
        api_base_url=closed,
        sleep=clock.sleep,
    )
    with pytest.raises(SheetsUnavailableError, match=r"\(ConnectionError\) after 5 attempts"):
        source.load(NOW)
    assert len(clock.sleeps) == 4


def test_forbidden_is_a_clear_auth_error_and_never_stale(
    fake: FakeSheets, key_file: Path, clock: FakeTime
) -> None:
    """403 names the account to share with, is not retried, and a later load never reuses data."""
    source = make(fake, key_file, clock)
    assert source.load(NOW).profiles
    fake.forbidden.add(KEY)
    with pytest.raises(
        SheetsAuthError, match=f"access refused.*share the spreadsheet with {EMAIL}"
    ):
        source.load(NOW)
    assert clock.sleeps == []


def test_rejected_bearer_token_is_an_auth_error(
    fake: FakeSheets, key_file: Path, clock: FakeTime
) -> None:
    """401 on every call (after google-auth's own token refreshes) -> SheetsAuthError."""
    source = make(fake, key_file, clock)
    fake.reject_bearer = True
    with pytest.raises(SheetsAuthError, match="HTTP 401"):
        source.load(NOW)
    assert len(fake.calls("POST", "/token")) == 3 and clock.sleeps == []  # 1 grant, 2 refreshes


def test_refused_token_grant_is_an_auth_error(
    fake: FakeSheets, key_file: Path, clock: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    """invalid_grant from the token endpoint -> SheetsAuthError; the key is never shown."""
    fake.refuse_tokens = True
    source = make(fake, key_file, clock)
    with caplog.at_level(logging.DEBUG), pytest.raises(SheetsAuthError, match="refused") as info:
        source.load(NOW)
    secret = json.loads(key_file.read_text())["private_key"].splitlines()[1]
    assert secret not in str(info.value) + repr(source) + caplog.text


@pytest.mark.parametrize(
    ("content", "words"),
    [(None, "not found"), ("{not json", "not a usable key"), ('{"type": "x"}', "not a usable")],
)
def test_bad_key_file(tmp_path: Path, fake: FakeSheets, content: str | None, words: str) -> None:
    """A missing or malformed key file is a SheetsAuthError naming the path only."""
    path = tmp_path / "sa.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SheetsAuthError, match=words):
        SheetsSource(KEY, credentials_file=path, api_base_url=fake.base_url).load(NOW)
    with pytest.raises(SheetsAuthError, match="GOOGLE_SERVICE_ACCOUNT_FILE"):
        SheetsSource(KEY).load(NOW)


def test_typed_cells_do_not_depend_on_the_locale(
    fake: FakeSheets, key_file: Path, clock: FakeTime
) -> None:
    """Date serials, date-time serials (sheet time zone), checkboxes and numbers are read."""
    fake.add(
        KEY,
        {
            "P": [
                ["url", "last like", "days", "active"],
                ["https://x.com/in/a", 46054, "", True],
                ["https://x.com/in/b", 46054.5, "", False],
                ["https://x.com/in/c", "", 1.5, True],
            ]
        },
    )
    fake.spreadsheets[KEY].time_zone = "America/New_York"
    a, b, c = make(fake, key_file, clock).load(NOW).profiles
    assert (a.last_engaged_at, a.active) == (datetime(2026, 2, 1, tzinfo=UTC), True)
    assert (b.last_engaged_at, b.active) == (datetime(2026, 2, 1, 17, tzinfo=UTC), False)
    assert c.last_engaged_at == datetime(2026, 2, 7, 20, tzinfo=UTC)
    (read,) = fake.calls("GET", "/values/")
    assert read.query == {
        "valueRenderOption": ["UNFORMATTED_VALUE"],
        "dateTimeRenderOption": ["SERIAL_NUMBER"],
    }


# ---- write-back -----------------------------------------------------------------------


def done(url: str) -> OutcomeUpdate:
    return OutcomeUpdate(url, T1, "done", T1)


def test_write_back_sends_one_raw_batch_update(
    fake: FakeSheets, key_file: Path, clock: FakeTime
) -> None:
    """One values:batchUpdate with RAW values: the date, the outcome, a new header."""
    updates = [
        done("https://linkedin.com/in/ada"),
        OutcomeUpdate("https://linkedin.com/in/bo", None, "no_posts", T1),
    ]
    make(fake, key_file, clock).write_back(updates)
    (call,) = fake.calls("POST", "values:batchUpdate")
    assert call.body == {
        "valueInputOption": "RAW",
        "data": [
            {"range": "'Profiles'!F1", "majorDimension": "ROWS", "values": [["last_outcome"]]},
            {
                "range": "'Profiles'!C2",
                "majorDimension": "ROWS",
                "values": [["2026-02-09T10:00:00Z"]],
            },
            {"range": "'Profiles'!F2", "majorDimension": "ROWS", "values": [["done"]]},
            {"range": "'Profiles'!F7", "majorDimension": "ROWS", "values": [["no_posts"]]},
        ],
    }
    sheet = fake.values(KEY, "Profiles")
    assert sheet[0][5] == "last_outcome" and sheet[1][2:] == [
        "2026-02-09T10:00:00Z",
        "TRUE",
        "x",
        "done",
    ]
    assert make(fake, key_file, clock).load(T1).profiles[0].last_engaged_at == T1


def test_write_back_grows_the_grid_first(fake: FakeSheets, key_file: Path, clock: FakeTime) -> None:
    """New columns beyond the grid: one resize, then the batch update."""
    fake.add(KEY, {"Profiles": [["url"], ["https://x.com/in/a"]]}, cols=1)
    make(fake, key_file, clock).write_back([done("https://x.com/in/a")])
    resize, update = fake.calls("POST", ":batchUpdate")
    assert resize.path == f"/v4/spreadsheets/{KEY}:batchUpdate"
    assert update.path == f"/v4/spreadsheets/{KEY}/values:batchUpdate"
    assert resize.body["requests"][0]["updateSheetProperties"]["properties"]["gridProperties"] == {
        "columnCount": 3
    }
    assert fake.values(KEY, "Profiles") == [
        ["url", "last_like_date", "last_outcome"],
        ["https://x.com/in/a", "2026-02-09T10:00:00Z", "done"],
    ]


def test_write_back_retries_429_and_keeps_within_the_quota(
    fake: FakeSheets, key_file: Path, clock: FakeTime
) -> None:
    """A third flush in one minute waits for the quota; a 429 on the write is retried."""
    source = make(fake, key_file, clock, writes_per_minute=2)
    source.write_back([done("https://linkedin.com/in/ada")])
    source.write_back([done("https://linkedin.com/in/bo")])
    source.load(T1)  # reads are not writes
    fake.fail(429, path="values:batchUpdate")
    source.write_back([done("https://linkedin.com/in/ada")])
    assert len(fake.calls("POST", "values:batchUpdate")) == 4  # 3 flushes, 1 retry
    assert clock.sleeps[0] == 60.0 and 0.5 <= clock.sleeps[1] <= 1.0


def test_write_back_failure_keeps_every_update(
    fake: FakeSheets, key_file: Path, clock: FakeTime
) -> None:
    """Persistent 503 -> retryable WriteBackError with the updates; 403 -> not retryable."""
    source = make(fake, key_file, clock)
    source.load(NOW)
    before = [list(r) for r in fake.values(KEY, "Profiles")]
    updates = [done("https://linkedin.com/in/ada")]
    fake.fail(503, times=5)
    with pytest.raises(WriteBackError) as info:
        source.write_back(updates)
    assert info.value.retryable and info.value.updates == tuple(updates)
    assert isinstance(info.value.__cause__, SheetsUnavailableError)
    fake.forbidden.add(KEY)
    with pytest.raises(WriteBackError, match="access refused") as info:
        source.write_back(updates)
    assert not info.value.retryable and info.value.updates == tuple(updates)
    assert fake.values(KEY, "Profiles") == before


# ---- helpers and choosing a source -----------------------------------------------------


def test_spreadsheet_key_and_a1() -> None:
    """Keys come from bare ids or URLs; A1 ranges quote titles and count columns in base 26."""
    assert spreadsheet_key(f"https://docs.google.com/spreadsheets/d/{KEY}/edit") == KEY
    assert spreadsheet_key(f" {KEY} ") == KEY
    for bad in ("https://example.com/nope", "a b"):
        with pytest.raises(SourceError):
            spreadsheet_key(bad)
    assert [a1("It's", 5, c) for c in (0, 25, 26, 701, 702)] == [
        "'It''s'!A5",
        "'It''s'!Z5",
        "'It''s'!AA5",
        "'It''s'!ZZ5",
        "'It''s'!AAA5",
    ]


def test_open_source_picks_the_configured_source(tmp_path: Path, settings: Settings) -> None:
    """CLI options win over settings; CSV is the default; contradictions are refused."""
    assert isinstance(open_source(settings, profiles=tmp_path / "a.csv"), CsvSource)
    sheet = open_source(
        settings, sheet=f"https://docs.google.com/spreadsheets/d/{KEY}/e", worksheet="W"
    )
    assert isinstance(sheet, SheetsSource) and (sheet.key, sheet.worksheet_name) == (KEY, "W")
    configured = settings.model_copy(update={"SHEET_KEY": KEY, "SHEET_WORKSHEET": "P"})
    assert open_source(configured).description == f"Google Sheet {KEY} (worksheet 'P')"
    assert "examples/profiles.csv" in open_source(settings).description
    with pytest.raises(SourceError, match="pick one"):
        open_source(settings, profiles=tmp_path / "a.csv", sheet="abc")
    with pytest.raises(SourceError, match="--worksheet"):
        open_source(settings, profiles=tmp_path / "a.csv", worksheet="W")
