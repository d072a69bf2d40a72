"""Export / import of schedule_state.json (seed 6) on a real Redis: exact round trips,
refusals that name the file and the JSON path and leave Redis byte-identical, safe files."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from typer.testing import CliRunner

from config.settings import Settings
from planner.cli.app import _register, app
from planner.redis_server import RedisProcess, find_redis_server, free_port
from planner.scheduler import Scheduler
from planner.server_clock import ServerClock
from planner.state_file import (
    StateFileError,
    export_state,
    import_state,
    load_state_file,
    parse_state,
    write_state_file,
)
from planner.store import CorruptState

MONDAY_6 = datetime(2026, 2, 9, 6, 0, tzinfo=UTC)
WEEK_7 = MONDAY_6.date()
ACCOUNT = "acct"
Doc = dict[str, Any]


def populate(client: redis.Redis, settings: Settings) -> datetime:
    """A week, three outcomes, one manual consume: plan, ledger, guard, breaker, outbox."""
    s = Scheduler(settings, client=client, account=ACCOUNT, rng=np.random.default_rng(3))
    rows = [
        {"linkedin_url": f"https://example.com/in/p{i}", "name": f"P{i}", "days_since": i % 13}
        for i in range(30)
    ]
    s.generate_weekly_plan(rows, now=MONDAY_6)
    queue = s.get_todays_queue(now=MONDAY_6)
    for slot, outcome in zip(queue, ["done", "failed", "done"], strict=False):
        s.mark_outcome(slot.linkedin_url, outcome, now=slot.scheduled_at)
    after = queue[2].scheduled_at + timedelta(minutes=10)
    assert s.consume(now=after)
    return after + timedelta(minutes=10)


def export(client: redis.Redis, now: datetime, week_start: date = WEEK_7) -> Doc:
    return export_state(client, ACCOUNT, "UTC", week_start=week_start, now=now)


def dump_all(client: redis.Redis) -> dict[Any, Any]:
    """Every key's DUMP: equal before and after means byte-identical state."""
    return {k: client.dump(k) for k in sorted(client.keys("*"))}


def flat(result: Any) -> str:
    """The CLI's output on one line (rich wraps long lines)."""
    return " ".join(str(result.output).split())


def without_saved_at(doc: Doc) -> Doc:
    return {k: v for k, v in doc.items() if k != "saved_at"}


@pytest.fixture
def cli(redis_url: str) -> Callable[..., Any]:
    """Run ``python -m planner ARGS`` against the test server (settings from the env only)."""
    _register()
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(app, list(args), env={"REDIS_URL": redis_url, "TIMEZONE": "UTC"})

    return invoke


# ---- round trips -------------------------------------------------------------------------


def test_round_trip_is_exact(redis_client: redis.Redis, settings: Settings) -> None:
    """Export, import into an empty Redis, export: the same document but for saved_at."""
    now = populate(redis_client, settings)
    first = export(redis_client, now)
    assert first["counters"]["daily_count"] == 3 and len(first["guard"]["reservations"]) == 3
    assert first["ledger"] and first["profiles"] and first["outbox"] and first["breaker"]
    state = parse_state(json.dumps(first), source="mem")
    redis_client.flushall()
    summary = import_state(redis_client, state)
    assert (summary.slots, summary.reservations, summary.expired_skipped) == (80, 3, 0)
    again = export(redis_client, now + timedelta(seconds=1))
    assert without_saved_at(again) == without_saved_at(first)


def test_cli_round_trip_and_file_mode(
    cli: Callable[..., Any], redis_client: redis.Redis, settings: Settings, tmp_path: Path
) -> None:
    """python -m planner export / import round-trip through files written with mode 0600."""
    now = populate(redis_client, settings)
    ServerClock(redis_client, ACCOUNT).install(now, 1.0)
    first, second = tmp_path / "state.json", tmp_path / "again.json"
    result = cli("export", str(first), "--account", ACCOUNT)
    assert result.exit_code == 0, result.output
    assert "week 2026-W07 (80 slots)" in flat(result)
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    redis_client.flushall()
    ServerClock(redis_client, ACCOUNT).install(now, 1.0)
    result = cli("import", str(first))
    assert result.exit_code == 0, result.output
    assert "80 slots, 77 jobs scheduled" in flat(result)
    assert cli("export", str(second), "--account", ACCOUNT, "--week", "2026-W07").exit_code == 0
    a, b = json.loads(first.read_text()), json.loads(second.read_text())
    assert without_saved_at(a) == without_saved_at(b)


def test_round_trip_without_a_plan(redis_client: redis.Redis, settings: Settings) -> None:
    """A week with no plan exports plan null; the rest still round-trips."""
    now = populate(redis_client, settings)
    first = export(redis_client, now, week_start=WEEK_7 + timedelta(days=7))
    assert first["plan"] is None and first["week"] == "2026-W08"
    redis_client.flushall()
    import_state(redis_client, parse_state(json.dumps(first), source="mem"))
    assert redis_client.keys("eng:{acct}:week:*") == []
    again = export(redis_client, now, week_start=WEEK_7 + timedelta(days=7))
    assert without_saved_at(again) == without_saved_at(first)


def _to_older_layout(client: redis.Redis) -> None:
    """Store the account's guard as the layout before this one did: reservations as hashes
    {at, day, week} and a ``guard:last`` key holding the newest instant."""
    for key in client.keys("eng:{acct}:guard:res:*"):
        at_us, day_key, week_key = client.get(key).decode().split(" ")
        ttl_ms = client.pttl(key)
        client.delete(key)
        client.hset(key, mapping={"at": at_us, "day": day_key, "week": week_key})
        client.pexpire(key, ttl_ms)
    hour = "eng:{acct}:guard:hour"
    newest = client.zrange(hour, -1, -1, withscores=True)[0][1]
    client.set("eng:{acct}:guard:last", int(newest), px=client.pttl(hour) - 5000)


def test_import_of_a_file_from_the_older_guard_layout(
    redis_client: redis.Redis, settings: Settings
) -> None:
    """A file written before reservations became strings and the last-action key went away
    (its ``guard.last`` carries that key's own expiry) imports into the current layout:
    string reservations, no last key; the guard then counts and releases exactly."""
    now = populate(redis_client, settings)
    current = export(redis_client, now)
    older = json.loads(json.dumps(current))
    last = older["guard"]["last"]
    assert last["at_us"] == max(e["at_us"] for e in older["guard"]["hour"]["entries"])
    last["expires_at_ms"] -= 5000  # the old key's own TTL, set by the newest action only
    redis_client.flushall()
    summary = import_state(redis_client, parse_state(json.dumps(older), source="old.json"))
    assert summary.reservations == 3
    assert not redis_client.exists("eng:{acct}:guard:last")
    res_keys = redis_client.keys("eng:{acct}:guard:res:*")
    assert len(res_keys) == 3 and {redis_client.type(k) for k in res_keys} == {b"string"}
    assert without_saved_at(export(redis_client, now)) == without_saved_at(current)
    guard = Scheduler(settings, client=redis_client, account=ACCOUNT).guard
    rid = next(iter(current["guard"]["reservations"]))
    at = datetime.fromtimestamp(current["guard"]["reservations"][rid]["at_us"] / 1e6, UTC)
    again = guard.reserve(rid, at)
    assert again.already_reserved and again.counts["day"] == 3
    assert guard.release(rid) is True
    assert guard.usage(now)["daily"]["used"] == 2


def test_export_reads_reservations_of_the_older_layout(
    redis_client: redis.Redis, settings: Settings
) -> None:
    """Reservations still stored as hashes (made before an upgrade) export as the strings
    do; the leftover last key is not state (the newest hour entry is)."""
    now = populate(redis_client, settings)
    current = export(redis_client, now)
    _to_older_layout(redis_client)
    assert {redis_client.type(k) for k in redis_client.keys("eng:{acct}:guard:res:*")} == {b"hash"}
    older = export(redis_client, now)
    old_res, new_res = older["guard"].pop("reservations"), current["guard"].pop("reservations")
    assert without_saved_at(older) == without_saved_at(current)
    assert old_res.keys() == new_res.keys() and len(new_res) == 3
    for rid, res in new_res.items():
        old = dict(old_res[rid])
        # PTTL + PEXPIRE above may move an expiry by a millisecond, and so its rounding
        assert abs(old.pop("expires_at_ms") - res.pop("expires_at_ms")) <= 1000
        assert old == res
    redis_client.hdel(next(iter(redis_client.keys("eng:{acct}:guard:res:*"))), "week")
    with pytest.raises(CorruptState, match="field 'week' missing"):
        export(redis_client, now)


def test_an_unreadable_reservation_is_not_exported(
    redis_client: redis.Redis, settings: Settings
) -> None:
    """A reservation string that is not '<at_us> <day key> <week key>', or names another
    account's counters, stops the export with the key named."""
    now = populate(redis_client, settings)
    key = redis_client.keys("eng:{acct}:guard:res:*")[0]
    at_us, day_key, week_key = redis_client.get(key).decode().split(" ")
    for damaged, reason in (
        (f"{at_us} {day_key}", "not a reservation"),
        (f"x {day_key} {week_key}", "not a number"),
        (f"{at_us} {day_key.replace('acct', 'other')} {week_key}", "not this account's"),
    ):
        redis_client.set(key, damaged, keepttl=True)
        with pytest.raises(CorruptState, match=reason):
            export(redis_client, now)


def _system_redis() -> Path | None:
    """A redis-server of another version than the session's (a 7.x reads expiries exactly)."""
    other = shutil.which("redis-server", path=os.defpath)
    if other is None:
        return None
    versions = set()
    for binary in (Path(other), find_redis_server()):
        run = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True)
        versions.add(run.stdout.split()[2])
    return Path(other) if len(versions) == 2 else None


@pytest.fixture
def other_server(tmp_path: Path) -> Iterator[redis.Redis]:
    """A dedicated server of the other available version (skipped when there is none)."""
    binary = _system_redis()
    if binary is None:
        pytest.skip("only one redis-server version available")
    server = RedisProcess(data_dir=tmp_path / "other", port=free_port(), binary=binary)
    server.start()
    client = redis.Redis.from_url(server.url)
    yield client
    client.close()
    server.stop()


def test_round_trip_on_the_other_server_version(
    other_server: redis.Redis, redis_client: redis.Redis, settings: Settings
) -> None:
    """Expiries read with PEXPIRETIME (7.x) and TIME + PTTL (6.2) round-trip alike, across."""
    now = populate(other_server, settings)
    first = export(other_server, now)
    state = parse_state(json.dumps(first), source="mem")
    for client in (other_server, redis_client):
        client.flushall()
        import_state(client, state)
        assert without_saved_at(export(client, now)) == without_saved_at(first)


# ---- refusals ----------------------------------------------------------------------------


def _engagement(doc: Doc) -> Doc:
    engagement: Doc = doc["plan"]["days"]["2026-02-09"]["engagements"][0]
    return engagement


def _set(path: list[str | int], value: Any) -> Callable[[Doc], None]:
    def edit(doc: Doc) -> None:
        target: Any = doc
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return edit


BAD_FILES: list[tuple[str, Callable[[str], str], str]] = [
    ("truncated", lambda text: text[: len(text) // 2], "$: not valid JSON"),
    ("not JSON", lambda text: "schedule state, trust me", "$: not valid JSON"),
    ("a JSON list", lambda text: "[1, 2]", "$: must be a JSON object"),
]

BAD_DOCS: list[tuple[str, Callable[[Doc], None], str]] = [
    ("newer schema", _set(["schema_version"], 2), "$.schema_version: 2 was written by a newer"),
    ("no schema", lambda d: d.pop("schema_version"), "$.schema_version: missing"),
    (
        "bad slot status",
        lambda d: _engagement(d).update(status="exploded"),
        '$.plan.days["2026-02-09"].engagements[0].status: Input should be',
    ),
    (
        "negative counter",
        _set(["counters", "daily_count"], -1),
        "$.counters.daily_count: Input should be greater than or equal to 0",
    ),
    (
        "counter as text",
        _set(["counters", "weekly_count"], "3"),
        "$.counters.weekly_count: Input should be a valid integer",
    ),
    (
        "counter disagrees with the guard",
        _set(["counters", "daily_count"], 7),
        "$.counters.daily_count: 7 disagrees with the guard state, which gives 3",
    ),
    (
        "malformed guard entry",
        _set(["guard", "hour", "entries", 0, "at_us"], 1.5),
        "$.guard.hour.entries[0].at_us: Input should be a valid integer",
    ),
    (
        "unknown key",
        _set(["guard", "minutes"], {}),
        "$.guard.minutes: Extra inputs are not permitted",
    ),
    ("foreign account", _set(["account"], "bob"), "$.account: the file holds account 'bob'"),
]


@pytest.mark.parametrize(
    ("edit", "message"), [(e, m) for _, e, m in BAD_FILES], ids=[n for n, _, _ in BAD_FILES]
)
def test_bad_text_is_refused(
    cli: Callable[..., Any],
    redis_client: redis.Redis,
    settings: Settings,
    tmp_path: Path,
    edit: Callable[[str], str],
    message: str,
) -> None:
    """A truncated or non-JSON file: exit 2, file and problem named, Redis byte-identical."""
    now = populate(redis_client, settings)
    path = tmp_path / "state.json"
    path.write_text(edit(json.dumps(export(redis_client, now), indent=2)))
    before = dump_all(redis_client)
    result = cli("import", str(path), "--replace")
    assert result.exit_code == 2
    assert f"{path}: {message}" in flat(result)
    assert "nothing imported" in flat(result)
    assert dump_all(redis_client) == before


@pytest.mark.parametrize(
    ("edit", "message"), [(e, m) for _, e, m in BAD_DOCS], ids=[n for n, _, _ in BAD_DOCS]
)
def test_bad_document_is_refused(
    cli: Callable[..., Any],
    redis_client: redis.Redis,
    settings: Settings,
    tmp_path: Path,
    edit: Callable[[Doc], None],
    message: str,
) -> None:
    """Each bad field is refused with its JSON path, exit 2, and Redis byte-identical."""
    now = populate(redis_client, settings)
    doc = export(redis_client, now)
    edit(doc)
    path = tmp_path / "state.json"
    path.write_text(json.dumps(doc))
    before = dump_all(redis_client)
    result = cli("import", str(path), "--replace", "--account", ACCOUNT)
    assert result.exit_code == 2, result.output
    assert f"{path}: {message}" in flat(result)
    assert dump_all(redis_client) == before


def test_existing_state_needs_replace(
    cli: Callable[..., Any], redis_client: redis.Redis, settings: Settings, tmp_path: Path
) -> None:
    """Importing over a stored week is refused unless --replace, which then restores it."""
    now = populate(redis_client, settings)
    path = tmp_path / "state.json"
    write_state_file(path, export(redis_client, now))
    Scheduler(settings, client=redis_client, account=ACCOUNT).consume(now=now)
    before = dump_all(redis_client)
    result = cli("import", str(path))
    assert result.exit_code == 2
    assert "2026-02-09 is already stored; --replace overwrites it" in flat(result)
    assert dump_all(redis_client) == before
    result = cli("import", str(path), "--replace", "--no-jobs")
    assert result.exit_code == 0, result.output
    assert without_saved_at(export(redis_client, now)) == without_saved_at(
        json.loads(path.read_text())
    )


def test_replace_refuses_a_slot_in_flight(redis_client: redis.Redis, settings: Settings) -> None:
    """A week with a claimed slot is never replaced: the worker's outcome would be lost."""
    now = populate(redis_client, settings)
    state = parse_state(json.dumps(export(redis_client, now)), source="state.json")
    slot = state.plan.days["2026-02-09"].engagements[5] if state.plan else None
    assert slot is not None
    Scheduler(settings, client=redis_client, account=ACCOUNT).live.store.claim_slot(
        ACCOUNT, slot.slot_id, now
    )
    before = dump_all(redis_client)
    with pytest.raises(StateFileError, match=r"state.json: \$.plan: .* is in flight"):
        import_state(redis_client, state, replace=True)
    assert dump_all(redis_client) == before


def test_expired_guard_keys_are_left_out(redis_client: redis.Redis, settings: Settings) -> None:
    """A counter whose expiry has passed by import time is not written at all."""
    now = populate(redis_client, settings)
    doc = export(redis_client, now)
    doc["guard"]["days"]["2026-02-09"]["expires_at_ms"] = 1_000
    redis_client.flushall()
    summary = import_state(redis_client, parse_state(json.dumps(doc), source="mem"))
    assert summary.expired_skipped == 1
    assert not redis_client.exists("eng:{acct}:guard:day:2026-02-09")
    assert redis_client.get("eng:{acct}:guard:week:2026-W07") == b"3"


def test_corrupt_state_is_not_exported(redis_client: redis.Redis, settings: Settings) -> None:
    """An unreadable guard counter stops the export with the key named."""
    now = populate(redis_client, settings)
    redis_client.set("eng:{acct}:guard:day:2026-02-10", "lots")
    with pytest.raises(CorruptState, match=r"guard:day:2026-02-10: not a number"):
        export(redis_client, now)


def test_load_names_an_unreadable_file(tmp_path: Path) -> None:
    """A missing file is refused with its path."""
    missing = tmp_path / "nope.json"
    with pytest.raises(StateFileError, match=rf"{missing}: \$: cannot read"):
        load_state_file(missing)


# ---- files -------------------------------------------------------------------------------


def test_no_secrets_in_the_file(redis_client: redis.Redis, tmp_path: Path) -> None:
    """Passwords in REDIS_URL and webhook paths and tokens never reach the export."""
    secret = Settings(
        _env_file=None,
        REDIS_URL="redis://user:hunter2@redis.internal:6379/0?password=hunter3",
        WEBHOOK_URL="https://n8n.example.com/webhook/s3cr3t-path?token=t0ken",
        WEBHOOK_SECRET="sharedsecret",
    )
    now = populate(redis_client, secret)
    path = tmp_path / "state.json"
    write_state_file(path, export(redis_client, now))
    text = path.read_text()
    for leaked in ("hunter2", "hunter3", "s3cr3t", "t0ken", "sharedsecret", "user:"):
        assert leaked not in text
    settings = json.loads(text)["plan_settings"]
    # The stored snapshot leaves them out entirely; an export would mask them otherwise.
    assert settings.get("REDIS_URL", "redis://***@redis.internal:6379/0") == (
        "redis://***@redis.internal:6379/0"
    )
    assert settings.get("WEBHOOK_URL", "https://n8n.example.com/***") == (
        "https://n8n.example.com/***"
    )


def test_write_replaces_with_mode_0600(tmp_path: Path) -> None:
    """An existing world-readable file is replaced by a 0600 one."""
    path = tmp_path / "state.json"
    path.write_text("old")
    path.chmod(0o644)
    write_state_file(path, {"a": 1})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"a": 1}


def test_failed_write_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that fails midway leaves the previous file intact and no temp file behind."""
    path = tmp_path / "state.json"
    path.write_text("previous")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        write_state_file(path, {"a": 1})
    monkeypatch.undo()
    with pytest.raises(TypeError):
        write_state_file(path, {"a": object()})
    assert path.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
