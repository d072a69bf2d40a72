"""One contract, two plan stores: every test runs on the Redis store and its in-memory twin."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from planner import keys
from planner.ledger import LedgerEntry
from planner.store import (
    BeginResult,
    Begun,
    CorruptState,
    MemoryPlanStore,
    PlanStore,
    RedisPlanStore,
    RunClaim,
    RunOutcome,
    SchemaMismatch,
    SlotBinding,
    SlotNotFound,
    SlotStateError,
    StoreUnavailable,
    WeekExists,
    WeekNotFound,
)
from planner.weekly_plan import (
    DailySlot,
    ScheduledEngagement,
    Status,
    WeeklyPlan,
    slot_id_for,
)

ACCOUNT = "acct"
MONDAY = date(2026, 2, 9)
TUESDAY = date(2026, 2, 10)
T0 = datetime(2026, 2, 9, 8, 0, tzinfo=UTC)


def make_engagement(
    day: date, index: int, hhmm: str, tz: str = "Europe/Berlin", account: str = ACCOUNT
) -> ScheduledEngagement:
    local = datetime.combine(day, time.fromisoformat(hhmm), tzinfo=ZoneInfo(tz))
    return ScheduledEngagement(
        slot_id=slot_id_for(account, day, index),
        index=index,
        linkedin_url=f"https://linkedin.com/in/p{day:%d}{index}",
        name=f"Person {day:%d}/{index}",
        scheduled_time=hhmm,
        scheduled_at=local.astimezone(UTC),
        priority_score=7.25 + index / 3,
        days_since_last_like=9.5,
        forced=index == 0,
    )


def make_plan(account: str = ACCOUNT, revision: int = 0) -> WeeklyPlan:
    """Three days of a Berlin week: two with slots, one light day with none."""
    return WeeklyPlan(
        account=account,
        timezone="Europe/Berlin",
        week_start=MONDAY,
        week_number=7,
        created_at=T0,
        revision=revision,
        days={
            "2026-02-09": DailySlot(
                date=MONDAY,
                budget=3,
                engagements=[
                    make_engagement(MONDAY, i, t, account=account)
                    for i, t in enumerate(["09:15", "10:40", "14:05"])
                ],
            ),
            "2026-02-10": DailySlot(
                date=TUESDAY,
                budget=2,
                is_burst_day=True,
                engagements=[
                    make_engagement(TUESDAY, i, t, account=account)
                    for i, t in enumerate(["11:00", "16:30"])
                ],
            ),
            "2026-02-11": DailySlot(
                date=date(2026, 2, 11), budget=0, engagements=[], is_light_day=True
            ),
        },
    )


SLOT0 = slot_id_for(ACCOUNT, MONDAY, 0)
SLOT1 = slot_id_for(ACCOUNT, MONDAY, 1)
SLOT2 = slot_id_for(ACCOUNT, MONDAY, 2)


@dataclass
class Backend:
    """A store plus raw access to its key space, for corruption and snapshot checks."""

    store: PlanStore
    snapshot: Callable[[], dict[str, Any]]
    set_field: Callable[[str, str, str], None]
    del_field: Callable[[str, str], None]
    items: Callable[[str], list[str]]


def redis_snapshot(client: redis.Redis) -> dict[str, Any]:
    """DUMP and TTL presence of every key: byte-identical state compares equal."""
    out: dict[str, Any] = {}
    for key in sorted(client.scan_iter(match="*")):
        out[key.decode() if isinstance(key, bytes) else key] = (
            client.dump(key),
            client.pttl(key) > 0,
        )
    return out


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "memory":
        mem = MemoryPlanStore()

        def mem_snapshot() -> dict[str, Any]:
            return {
                **{k: dict(v) for k, v in mem.hashes.items()},
                **{k: dict(v) for k, v in mem.zsets.items()},
            }

        def mem_set(key: str, field: str, value: str) -> None:
            mem.hashes[key][field] = value

        def mem_del(key: str, field: str) -> None:
            del mem.hashes[key][field]

        yield Backend(mem, mem_snapshot, mem_set, mem_del, lambda k: list(mem.lists.get(k, [])))
        return
    client: redis.Redis = request.getfixturevalue("redis_client")

    def r_set(key: str, field: str, value: str) -> None:
        client.hset(key, field, value)

    def r_del(key: str, field: str) -> None:
        client.hdel(key, field)

    def r_items(key: str) -> list[str]:
        return [v.decode() for v in client.lrange(key, 0, -1)]

    yield Backend(RedisPlanStore(client), lambda: redis_snapshot(client), r_set, r_del, r_items)


@pytest.fixture
def saved(backend: Backend) -> Backend:
    backend.store.save_week(make_plan(), settings_snapshot={"DAILY_LIMIT": 20})
    return backend


# ---- weeks ---------------------------------------------------------------------------


def test_round_trip(saved: Backend) -> None:
    """A saved plan loads back equal, with its meta, week index and slots in time order."""
    store = saved.store
    assert store.load_week(ACCOUNT, MONDAY) == make_plan()
    assert store.list_weeks(ACCOUNT) == [MONDAY]
    meta = store.week_meta(ACCOUNT, MONDAY)
    assert meta is not None
    assert meta.settings == {"DAILY_LIMIT": 20}
    assert meta.budgets == {MONDAY: 3, TUESDAY: 2, date(2026, 2, 11): 0}
    assert [e.slot_id for e in store.slots_of_day(ACCOUNT, MONDAY)] == [SLOT0, SLOT1, SLOT2]
    record = store.load_slot(ACCOUNT, SLOT1)
    assert (record.week_start, record.day) == (MONDAY, MONDAY)
    assert record.engagement == make_plan().slot(SLOT1)


def test_missing_things(backend: Backend) -> None:
    """An unknown week loads as None, an unknown slot raises SlotNotFound naming its key."""
    assert backend.store.load_week(ACCOUNT, MONDAY) is None
    assert backend.store.week_meta(ACCOUNT, MONDAY) is None
    assert backend.store.list_weeks(ACCOUNT) == []
    assert backend.store.slots_of_day(ACCOUNT, MONDAY) == []
    with pytest.raises(SlotNotFound, match=keys.slot(ACCOUNT, SLOT0)):
        backend.store.load_slot(ACCOUNT, SLOT0)


def test_save_twice_is_refused(saved: Backend) -> None:
    """Saving an existing week without replace raises WeekExists and changes nothing."""
    before = saved.snapshot()
    with pytest.raises(WeekExists, match=keys.week_meta(ACCOUNT, MONDAY)):
        saved.store.save_week(make_plan(revision=3))
    assert saved.snapshot() == before


def test_replace_drops_old_slots(saved: Backend) -> None:
    """replace=True swaps the whole week, deleting slots the new plan does not have."""
    new = make_plan(revision=1)
    new.days["2026-02-09"].engagements.pop()
    saved.store.save_week(new, replace=True)
    assert saved.store.load_week(ACCOUNT, MONDAY) == new
    with pytest.raises(SlotNotFound):
        saved.store.load_slot(ACCOUNT, SLOT2)
    assert saved.store.week_meta(ACCOUNT, MONDAY).settings == {}  # type: ignore[union-attr]


def test_replace_refused_while_a_slot_is_claimed(saved: Backend) -> None:
    """A week with a handler in flight (a claimed slot) is neither replaced nor deleted."""
    assert saved.store.claim_slot(ACCOUNT, SLOT1, T0)
    before = saved.snapshot()
    with pytest.raises(SlotStateError, match=keys.slot(ACCOUNT, SLOT1)):
        saved.store.save_week(make_plan(), replace=True)
    with pytest.raises(SlotStateError):
        saved.store.delete_week(ACCOUNT, MONDAY)
    assert saved.snapshot() == before


def test_delete_week(saved: Backend) -> None:
    """delete_week removes meta, day indexes, slots and the week index entry."""
    saved.store.put_ledger_entry(ACCOUNT, "https://x/in/a", LedgerEntry())
    assert saved.store.delete_week(ACCOUNT, MONDAY) is True
    assert saved.store.delete_week(ACCOUNT, MONDAY) is False
    assert saved.store.load_week(ACCOUNT, MONDAY) is None
    assert saved.store.list_weeks(ACCOUNT) == []
    assert list(saved.snapshot()) == [keys.ledger(ACCOUNT)]


def test_accounts_are_separate(saved: Backend) -> None:
    """Another account's week of the same dates is independent."""
    saved.store.save_week(make_plan(account="other"))
    assert saved.store.claim_slot("other", slot_id_for("other", MONDAY, 0), T0)
    assert saved.store.load_slot(ACCOUNT, SLOT0).engagement.status is Status.PENDING


# ---- slot transitions ------------------------------------------------------------------


def test_claim_once_only(saved: Backend) -> None:
    """Only the first claim of a slot wins, even from eight threads at once (I3)."""
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        wins.append(saved.store.claim_slot(ACCOUNT, SLOT0, T0))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == [False] * 7 + [True]
    slot = saved.store.load_slot(ACCOUNT, SLOT0).engagement
    assert (slot.status, slot.attempts, slot.claimed_at) == (Status.CLAIMED, 1, T0)
    with pytest.raises(SlotNotFound):
        saved.store.claim_slot(ACCOUNT, "acct-20260209-099", T0)


def test_finish_writes_slot_and_ledger(saved: Backend) -> None:
    """finish_slot moves claimed -> done and writes the ledger entry in the same step."""
    at = T0 + timedelta(hours=1)
    entry = LedgerEntry(last_done_at=at, last_attempt_at=at, last_outcome=Status.DONE)
    saved.store.claim_slot(ACCOUNT, SLOT0, T0)
    saved.store.finish_slot(
        ACCOUNT,
        SLOT0,
        Status.DONE,
        at,
        reason="ok",
        ledger_key="https://x/in/a",
        ledger_entry=entry,
    )
    slot = saved.store.load_slot(ACCOUNT, SLOT0).engagement
    assert (slot.status, slot.finished_at, slot.reason) == (Status.DONE, at, "ok")
    assert saved.store.get_ledger(ACCOUNT) == {"https://x/in/a": entry}


def test_finish_refuses_an_unclaimed_slot(saved: Backend) -> None:
    """finish_slot on a pending or finished slot raises SlotStateError and changes nothing."""
    before = saved.snapshot()
    with pytest.raises(SlotStateError, match="'pending'"):
        saved.store.finish_slot(
            ACCOUNT, SLOT0, Status.DONE, T0, ledger_key="k", ledger_entry=LedgerEntry()
        )
    assert saved.snapshot() == before
    with pytest.raises(ValueError, match="terminal"):
        saved.store.finish_slot(ACCOUNT, SLOT0, Status.CLAIMED, T0)


def test_set_slot_status_is_conditional(saved: Backend) -> None:
    """set_slot_status applies only from the expected status and only allowed transitions."""
    store = saved.store
    assert store.set_slot_status(ACCOUNT, SLOT0, expected=Status.PENDING, new=Status.MISSED, at=T0)
    assert not store.set_slot_status(
        ACCOUNT, SLOT0, expected=Status.PENDING, new=Status.SKIPPED, at=T0
    )
    assert store.load_slot(ACCOUNT, SLOT0).engagement.status is Status.MISSED
    store.claim_slot(ACCOUNT, SLOT1, T0)
    assert store.set_slot_status(
        ACCOUNT, SLOT1, expected=Status.CLAIMED, new=Status.UNKNOWN, at=T0, reason="crash"
    )
    assert store.load_slot(ACCOUNT, SLOT1).engagement.reason == "crash"
    with pytest.raises(ValueError, match="not allowed"):
        store.set_slot_status(ACCOUNT, SLOT2, expected=Status.PENDING, new=Status.DONE, at=T0)


def test_reschedule_moves_a_pending_slot(saved: Backend) -> None:
    """reschedule_slot moves a pending slot in its day's order and refuses another day."""
    store = saved.store
    later = datetime(2026, 2, 9, 16, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert store.reschedule_slot(ACCOUNT, SLOT0, later)
    assert [e.slot_id for e in store.slots_of_day(ACCOUNT, MONDAY)] == [SLOT1, SLOT2, SLOT0]
    moved = store.load_slot(ACCOUNT, SLOT0).engagement
    assert (moved.scheduled_time, moved.scheduled_at) == ("16:00", later)
    assert store.load_week(ACCOUNT, MONDAY) is not None
    with pytest.raises(ValueError, match="not on the slot's day"):
        store.reschedule_slot(ACCOUNT, SLOT1, later + timedelta(days=1))
    store.claim_slot(ACCOUNT, SLOT1, T0)
    assert not store.reschedule_slot(ACCOUNT, SLOT1, later)
    assert store.reschedule_slot(ACCOUNT, SLOT1, later, "16:00", expected=Status.CLAIMED)
    assert store.load_slot(ACCOUNT, SLOT1).engagement.status is Status.PENDING


def test_rebind_skips_slots_no_longer_pending(saved: Backend) -> None:
    """rebind_open_slots re-binds pending slots only, and bumps the week's revision."""
    store = saved.store
    store.claim_slot(ACCOUNT, SLOT1, T0)
    binding = SlotBinding("https://linkedin.com/in/new", "New", 3.5, 14.0, True)
    other_week = slot_id_for(ACCOUNT, date(2026, 2, 16), 0)
    updated = store.rebind_open_slots(
        ACCOUNT, MONDAY, {SLOT0: binding, SLOT1: binding, other_week: binding}
    )
    assert updated == [SLOT0]
    slot0 = store.load_slot(ACCOUNT, SLOT0).engagement
    assert (slot0.linkedin_url, slot0.name, slot0.priority_score, slot0.forced) == (
        "https://linkedin.com/in/new",
        "New",
        3.5,
        True,
    )
    assert store.load_slot(ACCOUNT, SLOT1).engagement.name == "Person 09/1"
    assert store.load_week(ACCOUNT, MONDAY).revision == 1  # type: ignore[union-attr]
    with pytest.raises(WeekNotFound):
        store.rebind_open_slots(ACCOUNT, date(2026, 2, 16), {other_week: binding})


# ---- a run: begin_run / end_run (claim with its I5 checks; outcome in one step) ---------

BERLIN = ZoneInfo("Europe/Berlin")
TUE0 = slot_id_for(ACCOUNT, TUESDAY, 0)
URL0 = make_plan().slot(SLOT0).linkedin_url


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=BERLIN).astimezone(UTC)


def begin(store: PlanStore, slot_id: str, now: datetime = T0) -> BeginResult:
    """begin_run as execute_slot calls it, with the slot as read just before."""
    record = store.load_slot(ACCOUNT, slot_id)
    slot = record.engagement
    claim = RunClaim(
        now=now,
        scheduled_at=slot.scheduled_at,
        linkedin_url=slot.linkedin_url,
        profile_key=slot.linkedin_url,
        day=record.day,
        today=now.astimezone(BERLIN).date(),
        engaged_since=local_midnight(record.day - timedelta(days=1)),
    )
    return store.begin_run(ACCOUNT, slot_id, claim)


def outcome(status: Status, at: datetime = T0, **extra: Any) -> RunOutcome:
    done = at if status is Status.DONE else None
    entry = LedgerEntry(last_done_at=done, last_attempt_at=at, last_outcome=status)
    fields: dict[str, Any] = {
        "status": status,
        "at": at,
        "reason": "ok",
        "profile_key": URL0,
        "ledger_entry": entry,
        "today": MONDAY,
        "breaker_threshold": 3,
    }
    return RunOutcome(**(fields | extra))


def same_profile_on_tuesday(store: PlanStore) -> None:
    """Bind Tuesday's first slot to the profile of Monday's first one."""
    binding = SlotBinding(URL0, "Same", 1.0, 2.0, False)
    assert store.rebind_open_slots(ACCOUNT, MONDAY, {TUE0: binding}) == [TUE0]


def test_begin_run_claims_once_and_returns_the_ledger_entry(saved: Backend) -> None:
    """begin_run claims a pending slot (attempts + 1) and hands back the profile's entry."""
    store = saved.store
    earlier = LedgerEntry(last_attempt_at=T0 - timedelta(days=3), last_outcome=Status.FAILED)
    store.put_ledger_entry(ACCOUNT, URL0, earlier)
    got = begin(store, SLOT0)
    assert (got.code, got.ledger_entry) == (Begun.CLAIMED, earlier)
    slot = store.load_slot(ACCOUNT, SLOT0).engagement
    assert (slot.status, slot.attempts, slot.claimed_at) == (Status.CLAIMED, 1, T0)
    assert (begin(store, SLOT0).code, begin(store, SLOT0).detail) == (Begun.NOT_PENDING, "claimed")
    assert begin(store, SLOT1).ledger_entry is None


def test_begin_run_refusals_change_nothing(saved: Backend) -> None:
    """Gone, changed, paused and engaged-yesterday slots are refused without a write."""
    store = saved.store
    slot = store.load_slot(ACCOUNT, SLOT0).engagement
    moved = RunClaim(T0, slot.scheduled_at + timedelta(minutes=1), URL0, URL0, MONDAY, MONDAY, T0)
    gone = "acct-20260209-099"
    before = saved.snapshot()
    assert store.begin_run(ACCOUNT, gone, moved).code is Begun.NOT_FOUND
    assert store.begin_run(ACCOUNT, SLOT0, moved).code is Begun.CHANGED
    assert saved.snapshot() == before
    # Sunday 23:59 in Berlin is the day before Monday: engaged then blocks Monday (I5).
    sunday_late = datetime(2026, 2, 8, 23, 59, tzinfo=BERLIN)
    store.put_ledger_entry(ACCOUNT, URL0, LedgerEntry(last_done_at=sunday_late))
    before = saved.snapshot()
    got = begin(store, SLOT0)
    assert (got.code, got.ledger_entry) == (
        Begun.ENGAGED_RECENTLY,
        LedgerEntry(last_done_at=sunday_late),
    )
    assert saved.snapshot() == before
    # Saturday 23:59 in Berlin (Saturday 22:59 UTC) is two days before: no block.
    saturday_late = datetime(2026, 2, 7, 23, 59, 59, 999999, tzinfo=BERLIN)
    store.put_ledger_entry(ACCOUNT, URL0, LedgerEntry(last_done_at=saturday_late))
    assert begin(store, SLOT0).code is Begun.CLAIMED
    # Three failures in a row pause the account for the day: the next claim is refused.
    store.put_ledger_entry(ACCOUNT, URL0, LedgerEntry())
    store.end_run(ACCOUNT, SLOT0, outcome(Status.FAILED, breaker_threshold=1))
    before = saved.snapshot()
    assert begin(store, SLOT1).code is Begun.PAUSED
    assert saved.snapshot() == before


def test_in_flight_run_blocks_the_next_day_until_it_ends(saved: Backend) -> None:
    """Monday's run of a profile in flight: Tuesday's claim of it is not registered (I5)."""
    store = saved.store
    same_profile_on_tuesday(store)
    assert begin(store, SLOT0).code is Begun.CLAIMED
    tuesday = store.load_slot(ACCOUNT, TUE0).engagement.scheduled_at
    got = begin(store, TUE0, tuesday)
    assert (got.code, got.detail) == (Begun.CLAIMED_IN_FLIGHT_ELSEWHERE, f"{SLOT0} 2026-02-09")
    assert store.load_slot(ACCOUNT, TUE0).engagement.status is Status.CLAIMED
    # Giving Tuesday's claim back leaves Monday's entry in place.
    assert store.reschedule_slot(ACCOUNT, TUE0, tuesday, expected=Status.CLAIMED)
    assert begin(store, TUE0, tuesday).code is Begun.CLAIMED_IN_FLIGHT_ELSEWHERE
    assert store.reschedule_slot(ACCOUNT, TUE0, tuesday, expected=Status.CLAIMED)
    ended = store.end_run(ACCOUNT, SLOT0, outcome(Status.DONE))
    assert (ended.finished, ended.tripped) == (True, False)
    # Monday's success is in the ledger now: Tuesday is refused by it, not by the run.
    assert begin(store, TUE0, tuesday).code is Begun.ENGAGED_RECENTLY


def test_a_failed_run_lets_the_next_day_run(saved: Backend) -> None:
    """Once Monday's run of the profile ended failed, Tuesday's claim goes through."""
    store = saved.store
    same_profile_on_tuesday(store)
    assert begin(store, SLOT0).code is Begun.CLAIMED
    store.end_run(ACCOUNT, SLOT0, outcome(Status.FAILED))
    tuesday = store.load_slot(ACCOUNT, TUE0).engagement.scheduled_at
    assert begin(store, TUE0, tuesday).code is Begun.CLAIMED


@pytest.mark.parametrize(
    ("closed_as", "blocks"),
    [(Status.MISSED, False), (Status.SKIPPED, False), (Status.UNKNOWN, True)],
)
def test_closing_a_claim_ends_its_in_flight_entry_unless_unknown(
    saved: Backend, closed_as: Status, blocks: bool
) -> None:
    """A claim closed before its handler ran frees the profile; an unknown one keeps it."""
    store = saved.store
    same_profile_on_tuesday(store)
    assert begin(store, SLOT0).code is Begun.CLAIMED
    assert store.set_slot_status(
        ACCOUNT, SLOT0, expected=Status.CLAIMED, new=closed_as, at=T0, reason="x"
    )
    tuesday = store.load_slot(ACCOUNT, TUE0).engagement.scheduled_at
    expected = Begun.CLAIMED_IN_FLIGHT_ELSEWHERE if blocks else Begun.CLAIMED
    assert begin(store, TUE0, tuesday).code is expected


def test_end_run_writes_slot_ledger_breaker_and_outbox(saved: Backend) -> None:
    """end_run finishes the slot with its ledger entry, counts failures, queues write-back."""
    store = saved.store
    begin(store, SLOT0)
    at = T0 + timedelta(minutes=2)
    ended = store.end_run(ACCOUNT, SLOT0, outcome(Status.FAILED, at, outbox_item='{"x": 1}'))
    assert (ended.finished, ended.tripped) == (True, False)
    slot = store.load_slot(ACCOUNT, SLOT0).engagement
    assert (slot.status, slot.finished_at, slot.reason) == (Status.FAILED, at, "ok")
    assert store.get_ledger(ACCOUNT)[URL0].last_outcome is Status.FAILED
    assert saved.items(keys.outbox(ACCOUNT)) == ['{"x": 1}']
    begin(store, SLOT1)
    tripped = store.end_run(ACCOUNT, SLOT1, outcome(Status.FAILED, breaker_threshold=2))
    assert tripped.tripped
    assert begin(store, SLOT2).code is Begun.PAUSED


def test_end_run_of_a_slot_no_longer_claimed_writes_only_the_ledger(saved: Backend) -> None:
    """A run that outlived its worker (slot already unknown) still teaches the ledger."""
    store = saved.store
    begin(store, SLOT0)
    store.set_slot_status(ACCOUNT, SLOT0, expected=Status.CLAIMED, new=Status.UNKNOWN, at=T0)
    ended = store.end_run(ACCOUNT, SLOT0, outcome(Status.DONE, outbox_item="item"))
    assert (ended.finished, ended.status) == (False, "unknown")
    assert store.load_slot(ACCOUNT, SLOT0).engagement.status is Status.UNKNOWN
    assert store.get_ledger(ACCOUNT)[URL0].last_outcome is Status.DONE
    assert saved.items(keys.outbox(ACCOUNT)) == []
    # Its in-flight entry ended with it: Tuesday's claim is judged by the ledger alone.
    same_profile_on_tuesday(store)
    tuesday = store.load_slot(ACCOUNT, TUE0).engagement.scheduled_at
    assert begin(store, TUE0, tuesday).code is Begun.ENGAGED_RECENTLY


def test_begin_run_refuses_a_corrupt_ledger_entry(saved: Backend) -> None:
    """An unreadable ledger entry of the profile is CorruptState before any write."""
    saved.store.put_ledger_entry(ACCOUNT, URL0, LedgerEntry())
    saved.set_field(keys.ledger(ACCOUNT), URL0, "{bad")
    before = saved.snapshot()
    with pytest.raises(CorruptState):
        begin(saved.store, SLOT0)
    assert saved.snapshot() == before


# ---- refusing bad state ----------------------------------------------------------------

SLOT0_KEY = keys.slot(ACCOUNT, SLOT0)
META_KEY = keys.week_meta(ACCOUNT, MONDAY)

CORRUPTIONS = [
    ("attempts not a number", SLOT0_KEY, "attempts", "many", CorruptState),
    ("naive datetime", SLOT0_KEY, "scheduled_at", "2026-02-09T08:15:00", CorruptState),
    ("bad status", SLOT0_KEY, "status", "exploded", CorruptState),
    ("forced not 0/1", SLOT0_KEY, "forced", "maybe", CorruptState),
    (
        "time differs from index",
        SLOT0_KEY,
        "scheduled_at",
        "2026-02-09T08:16:00+00:00",
        CorruptState,
    ),
    ("field missing", SLOT0_KEY, "name", None, CorruptState),
    ("foreign field", SLOT0_KEY, "colour", "red", CorruptState),
    ("newer slot schema", SLOT0_KEY, "v", "2", SchemaMismatch),
    ("bad days JSON", META_KEY, "days", "{not json", CorruptState),
    ("days wrong type", META_KEY, "days", '{"2026-02-09": {"budget": "3"}}', CorruptState),
    ("newer plan schema", META_KEY, "schema_version", "2", SchemaMismatch),
    ("foreign key layout", META_KEY, "layout", "7", SchemaMismatch),
    ("no layout marker", META_KEY, "layout", None, CorruptState),
    ("unknown time zone", META_KEY, "timezone", "Mars/Olympus", CorruptState),
]


@pytest.mark.parametrize(
    ("key", "field", "value", "error"),
    [c[1:] for c in CORRUPTIONS],
    ids=[c[0] for c in CORRUPTIONS],
)
def test_corrupt_state_is_refused_untouched(
    saved: Backend, key: str, field: str, value: str | None, error: type[Exception]
) -> None:
    """A corrupt or newer-schema hash raises a typed error naming the key; state stays put."""
    if value is None:
        saved.del_field(key, field)
    else:
        saved.set_field(key, field, value)
    before = saved.snapshot()
    with pytest.raises(error, match=key.replace("{", r"\{").replace("}", r"\}")):
        saved.store.load_week(ACCOUNT, MONDAY)
    if (key == SLOT0_KEY and field != "scheduled_at") or value == "2026-02-09T08:15:00":
        with pytest.raises(error):
            saved.store.load_slot(ACCOUNT, SLOT0)
    assert saved.snapshot() == before


def test_claim_refuses_corrupt_attempts(saved: Backend) -> None:
    """Claiming a slot whose attempts field is not a number is refused before any write."""
    saved.set_field(SLOT0_KEY, "attempts", "many")
    before = saved.snapshot()
    with pytest.raises(CorruptState, match="attempts is not an integer"):
        saved.store.claim_slot(ACCOUNT, SLOT0, T0)
    assert saved.snapshot() == before


def test_missing_slot_hash_is_corrupt(saved: Backend, backend: Backend) -> None:
    """A day index listing a slot whose hash is gone is CorruptState naming the day key."""
    if isinstance(backend.store, MemoryPlanStore):
        del backend.store.hashes[SLOT0_KEY]
    else:
        backend.store.client.delete(SLOT0_KEY)  # type: ignore[attr-defined]
    with pytest.raises(CorruptState, match="lists slot"):
        saved.store.slots_of_day(ACCOUNT, MONDAY)


def test_corrupt_ledger_entry(backend: Backend) -> None:
    """A ledger value that is not LedgerEntry JSON raises CorruptState naming the ledger."""
    backend.store.put_ledger_entry(ACCOUNT, "https://x/in/a", LedgerEntry())
    backend.set_field(keys.ledger(ACCOUNT), "https://x/in/b", "{bad")
    with pytest.raises(CorruptState, match=r"ledger: field 'https://x/in/b'"):
        backend.store.get_ledger(ACCOUNT)


# ---- Redis only ------------------------------------------------------------------------


def test_wrong_redis_type_is_corrupt(redis_client: redis.Redis) -> None:
    """A key of another Redis type where a hash belongs is CorruptState naming the key."""
    store = RedisPlanStore(redis_client)
    store.save_week(make_plan())
    redis_client.delete(SLOT0_KEY)
    redis_client.set(SLOT0_KEY, "hello")
    before = redis_snapshot(redis_client)
    with pytest.raises(CorruptState, match="another Redis type"):
        store.load_week(ACCOUNT, MONDAY)
    with pytest.raises(CorruptState):
        store.claim_slot(ACCOUNT, SLOT0, T0)
    assert redis_snapshot(redis_client) == before


def test_run_scripts_refuse_keys_of_another_type_before_writing(redis_client: redis.Redis) -> None:
    """begin_run / end_run meeting a key of another type raise CorruptState, writing nothing."""
    store = RedisPlanStore(redis_client)
    store.save_week(make_plan())
    redis_client.set(keys.ledger(ACCOUNT), "hello")
    before = redis_snapshot(redis_client)
    with pytest.raises(CorruptState, match="another Redis type"):
        begin(store, SLOT0)
    assert redis_snapshot(redis_client) == before
    redis_client.delete(keys.ledger(ACCOUNT))
    assert begin(store, SLOT0).code is Begun.CLAIMED
    redis_client.set(keys.outbox(ACCOUNT), "hello")
    before = redis_snapshot(redis_client)
    with pytest.raises(CorruptState):
        store.end_run(ACCOUNT, SLOT0, outcome(Status.DONE, outbox_item="x"))
    assert redis_snapshot(redis_client) == before


def test_unreachable_redis_is_store_unavailable() -> None:
    """A connection failure surfaces as StoreUnavailable naming the key, not a redis error."""
    from planner.redis_server import free_port

    no_retry = Retry(NoBackoff(), 0)
    client = redis.Redis(port=free_port(), socket_connect_timeout=0.5, retry=no_retry)
    with pytest.raises(StoreUnavailable, match="unreachable") as info:
        RedisPlanStore(client).load_slot(ACCOUNT, SLOT0)
    assert isinstance(info.value.__cause__, redis.ConnectionError)


def test_lua_scripts_ship_as_package_data() -> None:
    """Every script loads through importlib.resources and opens with its KEYS / ARGV
    contract; every include names a script that is there."""
    from importlib import resources

    from planner import lua

    scripts = [p for p in (resources.files("planner") / "lua").iterdir() if p.name.endswith(".lua")]
    assert len(scripts) == 10
    for script in scripts:
        header = script.read_text(encoding="utf-8").split("\n\n")[0]
        assert "KEYS[1]" in header or "ARGV[1]" in header, script.name
        assert lua.INCLUDE not in lua.source(script.name.removesuffix(".lua")), script.name
