"""A slot's run started in one step (``slot_run.lua``) on a real redis-server.

The one step must decide exactly as the separate steps do (those run when a test passes
``now``, and for whatever the step leaves to them), send two commands on the way to a
``done``, write nothing when it declines, and keep every key of the account's hash slot.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.crc import key_slot

from config.settings import Settings
from planner import breaker, keys, lua
from planner.clock import to_us
from planner.guard import Guard
from planner.ledger import LedgerEntry
from planner.server_clock import ServerClock, install
from planner.service import Live
from planner.store import CorruptState, SlotBinding
from planner.store.codec import iso
from planner.timing import day_window
from planner.weekly_plan import DailySlot, ScheduledEngagement, Status, WeeklyPlan, slot_id_for
from tests.round_trips import counting_client
from tests.test_execution import CountingHandler
from worker import slot_run
from worker.execute import execute_slot

DAY = date(2026, 2, 10)  # a Tuesday
NOON = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)
URL = "https://www.linkedin.com/in/ada/"


class Counted:
    """A client whose requests (commands, or whole pipelines) are recorded in ``sent``."""

    def __init__(self, url: str) -> None:
        self.client, self.sent = counting_client(url)


@pytest.fixture
def counted(redis_url: str) -> Iterator[Counted]:
    made = Counted(redis_url)
    yield made
    made.client.close()


def account_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"TIMEZONE": "UTC", "TIMING_MIN_GAP_MINUTES": 0.0, **overrides}
    return Settings(_env_file=None, **values)


def store_day(live: Live, instants: list[datetime], urls: list[str] | None = None) -> list[str]:
    """A week whose ``DAY`` holds one pending slot per instant; their ids."""
    urls = urls or [f"https://www.linkedin.com/in/p{i}" for i in range(len(instants))]
    return store_slots(live, DAY, list(zip(instants, urls, strict=True)))


def store_slots(live: Live, day: date, slots: list[tuple[datetime, str]]) -> list[str]:
    """A week of ``live``'s zone whose local ``day`` holds one pending slot per (instant,
    profile URL); their ids."""
    tz = live.settings.tz
    engagements = [
        ScheduledEngagement(
            slot_id=slot_id_for(live.account, day, i),
            index=i,
            linkedin_url=url,
            name=f"Member {i}",
            scheduled_time=f"{when.astimezone(tz):%H:%M}",
            scheduled_at=when,
            priority_score=1.0,
            days_since_last_like=3.0,
            forced=False,
        )
        for i, (when, url) in enumerate(slots)
    ]
    monday = day - timedelta(days=day.weekday())
    plan = WeeklyPlan(
        account=live.account,
        timezone=str(tz),
        week_start=monday,
        week_number=monday.isocalendar()[1],
        created_at=min(when for when, _ in slots) - timedelta(days=8),
        days={day.isoformat(): DailySlot(date=day, budget=len(slots), engagements=engagements)},
    )
    live.store.save_week(plan, replace=True)
    return [e.slot_id for e in engagements]


def connect(client: redis.Redis, account: str = "acct", **overrides: Any) -> Live:
    return Live.connect(client, account_settings(**overrides), account)


def run_at(live: Live, slot_id: str, when: datetime, handler: CountingHandler) -> str:
    live.clock.install(when, 1.0)
    return execute_slot(live, handler, np.random.default_rng(3), slot_id).status


def state(live: Live, slot_id: str) -> dict[str, Any]:
    """What a run leaves behind, without the instants (they differ by a few us)."""
    slot = live.store.load_slot(live.account, slot_id).engagement
    ledger = live.store.get_ledger(live.account)
    entry = next(iter(ledger.values())) if ledger else None
    usage = Guard(live.client, live.settings, live.account).usage(NOON + timedelta(minutes=1))
    return {
        "status": slot.status,
        "attempts": slot.attempts,
        "claimed": slot.claimed_at is not None,
        "finished": slot.finished_at is not None,
        "reason": slot.reason,
        "ledger": None if entry is None else (entry.last_outcome, entry.last_done_at is not None),
        "inflight": live.client.hlen(keys.inflight(live.account)),
        "guard": (usage["hourly"]["used"], usage["daily"]["used"], usage["weekly"]["used"]),
        "outbox": live.client.llen(keys.outbox(live.account)),
    }


# ---- the common path --------------------------------------------------------------------


def test_a_due_slot_runs_in_two_commands(counted: Counted) -> None:
    """On time: one script claims and reserves, the handler runs, one script records."""
    client, sent = counted.client, counted.sent
    live, warm = connect(client), connect(client, "warm")
    (slot_id,), (warm_id,) = store_day(live, [NOON]), store_day(warm, [NOON])
    install(client, ["acct", "warm"], NOON, 1.0)
    guard = Guard(client, live.settings, live.account)
    handler = CountingHandler()
    # the first run of each script loads it into the server
    assert execute_slot(warm, handler, np.random.default_rng(1), warm_id).status == "done"
    sent.clear()
    result = execute_slot(live, handler, np.random.default_rng(1), slot_id, guard=guard)
    assert result.status == "done", result
    assert sent == [b"EVALSHA", b"EVALSHA"]
    assert handler.calls == [warm_id, slot_id]
    stored = live.store.load_slot("acct", slot_id).engagement
    assert stored.attempts == 1 and stored.claimed_at is not None
    assert stored.claimed_at <= stored.finished_at  # type: ignore[operator]
    assert abs(stored.claimed_at - NOON) < timedelta(seconds=5)


@pytest.mark.parametrize("outcome", [Status.DONE, Status.FAILED, Status.NO_POSTS])
def test_one_step_leaves_what_the_separate_steps_leave(
    redis_client: redis.Redis, outcome: Status
) -> None:
    """The same slot, run in one step (no ``now``) and in steps (``now`` given), leaves the
    same slot, ledger, in-flight index, guard counters and outbox."""
    one, steps = (
        connect(redis_client, "one", WRITE_BACK=True),
        connect(redis_client, "steps", WRITE_BACK=True),
    )
    (a,), (b,) = store_day(one, [NOON]), store_day(steps, [NOON])
    assert run_at(one, a, NOON, CountingHandler([outcome])) == outcome.value
    steps.clock.install(NOON, 1.0)
    got = execute_slot(steps, CountingHandler([outcome]), np.random.default_rng(3), b, now=NOON)
    assert got.status == outcome.value
    assert state(one, a) == state(steps, b)


def test_claimed_at_is_the_server_instant_in_iso_form(redis_client: redis.Redis) -> None:
    """The script writes claimed_at as Python writes instants (read back by the codec)."""
    live = connect(redis_client)
    (slot_id,) = store_day(live, [NOON])
    handler = CountingHandler()
    assert run_at(live, slot_id, NOON + timedelta(seconds=1), handler) == "done"
    raw = redis_client.hget(keys.slot("acct", slot_id), "claimed_at")
    assert raw is not None
    claimed = datetime.fromisoformat(raw.decode())
    assert raw.decode() == iso(claimed)
    assert NOON + timedelta(seconds=1) <= claimed < NOON + timedelta(seconds=5)


ZONES = [
    "UTC",
    "Pacific/Kiritimati",  # UTC+14: the local day starts on the UTC day before
    "Pacific/Pago_Pago",  # UTC-11
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",  # +05:30
    "Australia/Lord_Howe",  # a 30-minute DST shift
]


@settings(max_examples=60)
@given(
    zone=st.sampled_from(ZONES),
    day=st.dates(date(2026, 1, 1), date(2027, 12, 31)),
    fraction=st.floats(0.0, 1.0, exclude_max=True),
    micros=st.sampled_from([0, 1, 999_999, 123_456]),
)
def test_claimed_at_is_the_claim_instant_in_any_zone(
    zone: str, day: date, fraction: float, micros: int
) -> None:
    """The script prints claimed_at itself: the instant of the claim, as Python prints it,
    whatever UTC date of the (up to 25-hour) window the instant falls on."""
    client = redis.Redis.from_url(_URL[0])
    account = f"z{abs(hash((zone, day, fraction, micros))) % 10**9}"
    try:
        live = connect(
            client,
            account,
            TIMEZONE=zone,
            OPERATING_START=time(0, 0),
            OPERATING_END=time(23, 59, 59),
            LATE_TOLERANCE_MINUTES=10.0**6,
        )
        start, end = day_window(day, live.settings)
        span = (end - start) // timedelta(seconds=1) - 2
        when = start + timedelta(seconds=int(span * fraction), microseconds=micros)
        (slot_id,) = store_slots(live, day, [(when, URL)])
        live.clock.install(when, 1e-6)  # time all but stands still: the claim is at `when`
        started = slot_run.start_run(
            client, account, live.settings, Guard(client, live.settings, account), slot_id
        )
        assert isinstance(started, slot_run.Claimed), started
        raw = client.hget(keys.slot(account, slot_id), "claimed_at")
        assert raw is not None and raw.decode() == iso(started.now)
        assert abs(started.now - when) < timedelta(milliseconds=1)
    finally:
        client.close()


_URL: list[str] = []


@pytest.fixture(autouse=True)
def _remember_url(redis_url: str) -> None:
    _URL[:] = [redis_url]


# ---- what the one step declines, writing nothing ---------------------------------------


def test_missing_and_finished_slots_are_ignored(counted: Counted) -> None:
    client, sent = counted.client, counted.sent
    live = connect(client)
    (slot_id,) = store_day(live, [NOON])
    handler = CountingHandler()
    live.clock.install(NOON, 1.0)
    missing = execute_slot(live, handler, np.random.default_rng(1), slot_id_for("acct", DAY, 9))
    assert missing.status == "ignored" and "no such slot" in missing.detail
    assert run_at(live, slot_id, NOON, handler) == "done"
    sent.clear()
    again = execute_slot(live, handler, np.random.default_rng(1), slot_id)
    assert again.status == "ignored" and "slot is done" in again.detail
    assert sent == [b"EVALSHA"]
    assert handler.calls == [slot_id]


def test_a_stray_early_copy_changes_nothing(redis_client: redis.Redis) -> None:
    """A job far ahead of its slot (the slot was re-timed later) claims nothing."""
    live = connect(redis_client)
    (slot_id,) = store_day(live, [NOON])
    before = redis_client.hgetall(keys.slot("acct", slot_id))
    handler = CountingHandler()
    result_status = run_at(live, slot_id, NOON - timedelta(minutes=5), handler)
    assert result_status == "ignored"
    assert redis_client.hgetall(keys.slot("acct", slot_id)) == before
    assert handler.calls == []
    assert redis_client.exists(keys.inflight("acct"), keys.guard_hour("acct")) == 0


def test_a_job_a_moment_early_waits_for_its_instant(redis_client: redis.Redis) -> None:
    """RQ keeps whole seconds: a job up to MAX_EARLY_WAIT_S early waits, then runs."""
    live = connect(redis_client)
    (slot_id,) = store_day(live, [NOON])
    handler = CountingHandler()
    assert run_at(live, slot_id, NOON - timedelta(seconds=0.3), handler) == "done"
    claimed = live.store.load_slot("acct", slot_id).engagement.claimed_at
    assert claimed is not None and claimed >= NOON


def test_the_breaker_and_yesterdays_success_skip_without_a_claim(
    redis_client: redis.Redis,
) -> None:
    live = connect(redis_client, BREAKER_THRESHOLD=1)
    first, second = store_day(
        live, [NOON, NOON + timedelta(minutes=30)], [URL, "https://example.com/in/bo"]
    )
    assert breaker.record(redis_client, "acct", Status.FAILED, DAY, 1)
    assert run_at(live, first, NOON, CountingHandler()) == "skipped"
    stored = live.store.load_slot("acct", first).engagement
    assert stored.reason == "circuit breaker open for today" and stored.attempts == 0

    other = connect(redis_client, "other")
    (slot_id,) = store_day(other, [NOON], [URL])
    yesterday = NOON - timedelta(days=1)
    entry = LedgerEntry(last_done_at=yesterday, last_attempt_at=yesterday, last_outcome=Status.DONE)
    other.store.put_ledger_entry("other", "https://linkedin.com/in/ada", entry)
    handler = CountingHandler()
    assert run_at(other, slot_id, NOON, handler) == "skipped"
    stored = other.store.load_slot("other", slot_id).engagement
    assert stored.reason == "engaged successfully yesterday or today" and stored.attempts == 0
    assert handler.calls == [] and second


def test_a_late_slot_is_left_to_the_steps_and_retimed(redis_client: redis.Redis) -> None:
    live = connect(redis_client)
    (slot_id,) = store_day(live, [NOON])
    late = NOON + timedelta(minutes=live.settings.LATE_TOLERANCE_MINUTES + 1)
    handler = CountingHandler()
    assert run_at(live, slot_id, late, handler) == "rescheduled"
    moved = live.store.load_slot("acct", slot_id).engagement
    assert moved.status is Status.PENDING and moved.scheduled_at > late
    assert handler.calls == []


# ---- claimed, then given back ----------------------------------------------------------


def test_a_guard_refusal_gives_the_claim_back(redis_client: redis.Redis) -> None:
    """Claimed, the hourly cap refuses: re-timed later, nothing reserved, no handler call."""
    live = connect(
        redis_client, HOURLY_LIMIT=1, DAILY_BUDGET_MAX=1, DAILY_BUDGET_MIN=1, WEEKLY_BUDGET_TARGET=7
    )
    first, second = store_day(live, [NOON, NOON + timedelta(minutes=10)])
    handler = CountingHandler()
    assert run_at(live, first, NOON, handler) == "done"
    assert run_at(live, second, NOON + timedelta(minutes=10), handler) == "rescheduled"
    moved = live.store.load_slot("acct", second).engagement
    assert moved.status is Status.PENDING
    assert moved.scheduled_at >= NOON + timedelta(hours=1)
    assert redis_client.exists(keys.guard_reservation("acct", second)) == 0
    assert handler.calls == [first]
    assert (
        redis_client.hlen(keys.inflight("acct")) == 0
    )  # the run ended, the refused one gave it back


def test_a_profile_in_flight_elsewhere_gives_the_claim_back(redis_client: redis.Redis) -> None:
    """Another run of the profile on the next day is in flight (I5): re-timed, no reserve."""
    live = connect(redis_client)
    (slot_id,) = store_day(live, [NOON], [URL])
    other = f"{slot_id_for('acct', DAY + timedelta(days=1), 0)} {DAY + timedelta(days=1)}"
    redis_client.hset(keys.inflight("acct"), "https://linkedin.com/in/ada", other)
    handler = CountingHandler()
    assert run_at(live, slot_id, NOON, handler) == "rescheduled"
    assert handler.calls == []
    assert live.store.load_slot("acct", slot_id).engagement.status is Status.PENDING
    assert redis_client.exists(keys.guard_hour("acct")) == 0


# ---- what the one step leaves to the steps ---------------------------------------------


def test_a_slot_stored_before_the_derived_fields_still_runs(counted: Counted) -> None:
    client, sent = counted.client, counted.sent
    live = connect(client)
    (slot_id,) = store_day(live, [NOON])
    client.hdel(keys.slot("acct", slot_id), "at_us", "profile_key")
    handler = CountingHandler()
    live.clock.install(NOON, 1.0)
    sent.clear()
    assert execute_slot(live, handler, np.random.default_rng(1), slot_id).status == "done"
    assert sent.count(b"EVALSHA") > 2  # declined, then the steps
    assert handler.calls == [slot_id]


def test_a_time_map_without_its_microsecond_fields_still_runs(redis_client: redis.Redis) -> None:
    live = connect(redis_client)
    (slot_id,) = store_day(live, [NOON])
    live.clock.install(NOON, 1.0)
    redis_client.hdel(keys.clock("acct"), "real_origin_us", "virtual_origin_us")
    started = slot_run.start_run(
        redis_client, "acct", live.settings, Guard(redis_client, live.settings, "acct"), slot_id
    )
    assert isinstance(started, slot_run.Declined) and started.kind == "L"
    assert started.detail == "older time map"
    assert execute_slot(live, CountingHandler(), np.random.default_rng(1), slot_id).status == (
        "done"
    )


def test_slot_ids_without_a_date_take_the_steps() -> None:
    assert slot_run.slot_day("acct-20260210-003") == DAY
    assert slot_run.slot_day("my-acct-20260210-003") == DAY
    for odd in ("acct-2026021-003", "acct-20261310-003", "legacy", "acct-2026x210-003"):
        assert slot_run.slot_day(odd) is None


# ---- keys, clock and stored fields ---------------------------------------------------


def test_every_key_of_the_script_is_in_the_accounts_hash_slot(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Valid on Redis Cluster: every key the script touches comes in KEYS, one hash slot."""
    live = connect(redis_client, "odd-acct_1")
    (slot_id,) = store_day(live, [NOON])
    live.clock.install(NOON, 1.0)
    seen: list[Sequence[str | bytes]] = []
    real = lua.call

    def spy(client: redis.Redis, name: str, keys_: Sequence[str | bytes], args: Any) -> Any:
        seen.append(keys_)
        return real(client, name, keys_, args)

    monkeypatch.setattr(lua, "call", spy)
    guard = Guard(redis_client, live.settings, live.account)
    slot_run.start_run(redis_client, live.account, live.settings, guard, slot_id)
    (names,) = seen
    assert len(names) == 10
    text = [n.decode() if isinstance(n, bytes) else n for n in names]
    assert {key_slot(n.encode()) for n in text} == {key_slot(keys.ledger(live.account).encode())}
    assert all(n.startswith(keys.tag(live.account)) for n in text)


def test_a_time_map_belongs_to_its_accounts(redis_client: redis.Redis) -> None:
    mapping = install(redis_client, ["a", "b"], NOON, 60.0)
    assert ServerClock(redis_client, "a").time_map() == mapping
    assert ServerClock(redis_client, "b").time_map() == mapping
    assert ServerClock(redis_client, "c").time_map() is None
    fields = redis_client.hgetall(keys.clock("a"))
    assert int(fields[b"virtual_origin_us"]) == to_us(NOON)
    assert int(fields[b"real_origin_us"]) == to_us(mapping.real_origin)


def test_derived_fields_follow_every_writer(redis_client: redis.Redis) -> None:
    """Saving, re-timing and re-binding keep at_us and profile_key true to their sources;
    a stored value that disagrees is refused when read."""
    live = connect(redis_client)
    (slot_id,) = store_day(live, [NOON], [URL])
    key = keys.slot("acct", slot_id)
    assert redis_client.hget(key, "profile_key") == b"https://linkedin.com/in/ada"
    assert redis_client.hget(key, "at_us") == str(to_us(NOON)).encode()
    later = NOON + timedelta(minutes=17, microseconds=5)
    assert live.store.reschedule_slot("acct", slot_id, later)
    assert redis_client.hget(key, "at_us") == str(to_us(later)).encode()
    binding = SlotBinding(
        linkedin_url="HTTP://LinkedIn.com/in/Bo/?x=1",
        name="Bo",
        priority_score=2.0,
        days_since_last_like=9.0,
        forced=True,
    )
    monday = DAY - timedelta(days=DAY.weekday())
    assert live.store.rebind_open_slots("acct", monday, {slot_id: binding}) == [slot_id]
    assert redis_client.hget(key, "profile_key") == b"https://linkedin.com/in/Bo"
    assert live.store.load_slot("acct", slot_id).engagement.name == "Bo"
    redis_client.hset(key, "at_us", "1")
    with pytest.raises(CorruptState, match="at_us"):
        live.store.load_slot("acct", slot_id)


def test_a_corrupt_guard_counter_is_named_and_nothing_is_reserved(
    redis_client: redis.Redis,
) -> None:
    """The guard's error comes after the claim (as in separate steps): the run stops with
    the key named, the slot stays claimed (so it is reported unknown, never re-run) and no
    action is counted."""
    live = connect(redis_client)
    (slot_id,) = store_day(live, [NOON])
    redis_client.set(keys.guard_day("acct", DAY), "not a number")
    with pytest.raises(CorruptState, match="guard:day"):
        run_at(live, slot_id, NOON, CountingHandler())
    assert live.store.load_slot("acct", slot_id).engagement.status is Status.CLAIMED
    assert (
        redis_client.exists(keys.guard_reservation("acct", slot_id), keys.guard_hour("acct")) == 0
    )
