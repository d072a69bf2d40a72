"""The guard's per-call contract against a real redis-server: one round trip per call,
release undoes exactly what its reservation counted (whatever the date is now), and the
cached calendar agrees with the uncached one in every zone, odd ones included."""

from __future__ import annotations

import io
import random
import struct
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis

from planner import keys
from planner.clock import from_us, to_us
from planner.guard import HORIZON_S, Guard, day_start_us, windows
from planner.store import CorruptState
from tests.round_trips import counting_client
from tests.test_guard import make_settings

BERLIN = ZoneInfo("Europe/Berlin")


def local(day: date, hhmm: str, tz: ZoneInfo = BERLIN) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), tzinfo=tz)


def test_each_call_is_one_round_trip(redis_url: str) -> None:
    """reserve (with the caller's now) and release each send exactly one command."""
    counting, sent = counting_client(redis_url)
    guard = Guard(counting, make_settings(hourly=3, gap_min=1), "acct")
    at = datetime(2026, 2, 10, 9, 0, tzinfo=UTC)
    guard.reserve("warm", at)  # the first call of a script may need SCRIPT LOAD
    guard.release("warm")
    for reserve_at, expected in ((at, True), (at + timedelta(seconds=10), False)):
        sent.clear()
        assert guard.reserve("s1" if expected else "s2", reserve_at).allowed is expected
        assert sent == [b"EVALSHA"]
    for slot, expected in (("s1", True), ("s1", False), ("never", False)):
        sent.clear()
        assert guard.release(slot) is expected
        assert sent == [b"EVALSHA"]
    counting.close()


def test_release_after_midnight_undoes_the_reserved_day_and_week(
    redis_client: redis.Redis,
) -> None:
    """A reservation made on Sunday 23:59, released on Monday, takes its count off Sunday
    and Sunday's ISO week, not off the new day and week."""
    guard = Guard(redis_client, make_settings(), "acct")
    sunday, monday = date(2026, 3, 29), date(2026, 3, 30)  # Berlin's 23-hour Sunday
    assert guard.reserve("late", local(sunday, "23:59")).allowed
    assert guard.reserve("early", local(monday, "00:01")).allowed
    assert guard.release("late") is True
    get = redis_client.get
    assert get(keys.guard_day("acct", sunday)) == b"0"
    assert get(keys.guard_week("acct", "2026-W13")) == b"0"
    assert get(keys.guard_day("acct", monday)) == b"1"
    assert get(keys.guard_week("acct", "2026-W14")) == b"1"
    usage = guard.usage(local(monday, "00:02"))
    assert (usage["hourly"]["used"], usage["daily"]["used"], usage["weekly"]["used"]) == (1, 1, 1)
    assert usage["last_action_at"] == local(monday, "00:01")


def test_release_after_the_counter_expired_leaves_it_alone(redis_client: redis.Redis) -> None:
    """If the day counter is gone (expired), release neither recreates it nor goes below 0."""
    guard = Guard(redis_client, make_settings(), "acct")
    at = local(date(2026, 2, 10), "10:00")
    assert guard.reserve("a", at).allowed
    redis_client.delete(keys.guard_day("acct", date(2026, 2, 10)))
    assert guard.release("a") is True
    assert redis_client.exists(keys.guard_day("acct", date(2026, 2, 10))) == 0
    assert redis_client.get(keys.guard_week("acct", "2026-W07")) == b"0"


def test_release_refuses_a_reservation_naming_another_accounts_counters(
    redis_client: redis.Redis,
) -> None:
    """The counter names come from the reservation: a damaged one that points outside the
    account (another hash slot on a cluster), or that cannot be read, is refused and nothing
    is changed."""
    guard = Guard(redis_client, make_settings(), "acct")
    at = local(date(2026, 2, 10), "10:00")
    assert guard.reserve("a", at).allowed
    res_key = keys.guard_reservation("acct", "a")
    at_us, day_key, week_key = redis_client.get(res_key).decode().split(" ")
    assert (int(at_us), day_key) == (to_us(at), keys.guard_day("acct", date(2026, 2, 10)))
    other_day = keys.guard_day("other", date(2026, 2, 10))
    redis_client.set(other_day, 5)
    for damaged in (f"{at_us} {other_day} {week_key}", f"{at_us} {day_key}", "garbage"):
        redis_client.set(res_key, damaged, keepttl=True)
        with pytest.raises(CorruptState, match=r"another account|not a reservation"):
            guard.release("a")
        assert redis_client.get(other_day) == b"5"
        assert redis_client.get(res_key) == damaged.encode()
        assert redis_client.get(day_key) == b"1"
        assert guard.usage(at)["hourly"]["used"] == 1


def test_reservation_is_per_slot_id(redis_client: redis.Redis) -> None:
    """Releasing one slot leaves another slot's reservation (same instant) in place."""
    guard = Guard(redis_client, make_settings(), "acct")
    at = local(date(2026, 2, 10), "10:00")
    assert guard.reserve("a", at).allowed and guard.reserve("b", at).allowed
    assert guard.release("a") is True
    again = guard.reserve("b", at + timedelta(minutes=1))
    assert again.already_reserved and again.counts == {"hour": 1, "day": 1, "week": 1}
    assert guard.release("b") is True and guard.release("a") is False


def test_a_client_decoding_responses_works_too(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    guard = Guard(client, make_settings(hourly=1), "acct")
    at = local(date(2026, 2, 10), "10:00")
    assert guard.reserve("a", at).allowed
    refused = guard.reserve("b", at + timedelta(minutes=1))
    assert (refused.blocked_by, refused.retry_after_s) == ("hour", 59 * 60)
    assert guard.reserve("a", at).already_reserved
    assert guard.release("a") is True and guard.release("a") is False
    client.close()


def test_an_instant_behind_the_trimmed_history_is_stale(redis_client: redis.Redis) -> None:
    """After a far later action trims the hour zset, an instant whose hour reaches below the
    cut-off is refused as 'stale'; the trim mark outlives the zset it describes."""
    guard = Guard(redis_client, make_settings(), "acct")
    t0 = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
    assert guard.reserve("a", t0).allowed
    later = t0 + timedelta(seconds=HORIZON_S) + timedelta(days=1)
    assert guard.reserve("b", later).allowed  # trims below later - horizon = t0 + 1 day
    assert redis_client.zrange(keys.guard_hour("acct"), 0, -1) == [b"b"]
    stale = guard.reserve("c", t0 + timedelta(hours=12))
    assert (stale.allowed, stale.blocked_by) == (False, "stale")
    assert guard.reserve("d", t0 + timedelta(days=2)).allowed  # within the kept history
    ttl_zset, ttl_mark = (
        redis_client.ttl(keys.guard_hour("acct")),
        redis_client.ttl(keys.guard_trimmed("acct")),
    )
    assert ttl_mark > ttl_zset > HORIZON_S


def test_trimming_is_lazy_and_exact(redis_client: redis.Redis) -> None:
    """Actions an hour apart over ten days: the zset keeps at most horizon + a window of
    history, and every instant inside the horizon is still checked against its neighbours."""
    guard = Guard(redis_client, make_settings(hourly=1, daily=100, weekly=10_000), "acct")
    t0 = datetime(2026, 2, 2, 0, 0, tzinfo=UTC)
    for i in range(240):
        assert guard.reserve(f"s{i}", t0 + timedelta(hours=i)).allowed
    members = redis_client.zrange(keys.guard_hour("acct"), 0, -1, withscores=True)
    newest = to_us(t0 + timedelta(hours=239))
    assert all(newest - score <= (HORIZON_S + 2 * 3600) * 1_000_000 for _, score in members)
    assert guard.reserve("x", t0 + timedelta(hours=239 - 24, minutes=30)).blocked_by == "hour"


# ---- the cached calendar ---------------------------------------------------------------

ODD_DAYS = [
    ("Europe/Berlin", date(2026, 3, 29)),  # 23 h
    ("Europe/Berlin", date(2026, 10, 25)),  # 25 h
    ("America/New_York", date(2026, 11, 1)),
    ("America/Sao_Paulo", date(2018, 11, 4)),  # DST began at midnight: no 00:00 that day
    ("America/Havana", date(2026, 3, 8)),  # spring forward at 00:00
    ("Pacific/Apia", date(2011, 12, 30)),  # a date that never happened in Samoa
    ("Australia/Lord_Howe", date(2026, 4, 5)),  # a 30-minute change
    ("Asia/Kathmandu", date(2026, 2, 10)),  # +05:45
]


@pytest.mark.parametrize(("zone", "day"), ODD_DAYS)
def test_day_start_is_the_first_instant_of_the_date(zone: str, day: date) -> None:
    tz = ZoneInfo(zone)
    start = day_start_us(day, tz)
    assert from_us(start).astimezone(tz).date() >= day
    assert from_us(start - 1).astimezone(tz).date() < day


@pytest.mark.parametrize(("zone", "day"), ODD_DAYS)
def test_cached_days_agree_with_the_calendar(
    redis_client: redis.Redis, zone: str, day: date
) -> None:
    """Instants around an odd local day, in random order (so the cache is hit, missed and
    reordered): the cached day always has the instant's local date, ISO week and ends."""
    tz = ZoneInfo(zone)
    guard = Guard(redis_client, make_settings(tz=zone), f"cal{abs(hash(zone)) % 10_000}")
    centre = to_us(datetime.combine(day, time(12), tzinfo=tz))
    rng = random.Random(zone)
    span = 3 * 86_400 * 1_000_000
    instants = [centre + rng.randrange(-span, span) for _ in range(3000)]
    instants += [
        day_start_us(day + timedelta(days=k), tz) + d for k in (-1, 0, 1, 2) for d in (-1, 0)
    ]
    for now_us in instants:
        cached = guard._day(now_us)
        win = windows(from_us(now_us), tz)
        assert cached.start_us <= now_us < cached.end_us
        assert (cached.local_day, cached.iso_week) == (win.local_day, win.iso_week)
        assert (from_us(cached.end_us), from_us(cached.week_end_us)) == (win.day_end, win.week_end)
        assert cached.day_key == keys.guard_day(guard.account, win.local_day)
        assert cached.week_key == keys.guard_week(guard.account, win.iso_week)


def _zone_jumping_over_midnight(transition: datetime) -> ZoneInfo:
    """A made-up zone: UTC until ``transition``, then UTC+1 (clocks jump 23:30 -> 00:30)."""
    types = [(0, 0, 0), (3600, 1, 4)]  # (utoff, isdst, abbreviation index)
    abbrevs = b"UTC\0ODD\0"
    header = b"TZif" + b"\0" + b"\0" * 15 + struct.pack(">6l", 0, 0, 0, 1, len(types), len(abbrevs))
    body = struct.pack(">l", int(transition.timestamp())) + bytes([1])
    body += b"".join(struct.pack(">lBB", *t) for t in types) + abbrevs
    return ZoneInfo.from_file(io.BytesIO(header + body), key="Test/Odd")


def test_day_start_when_clocks_jump_over_midnight() -> None:
    """Midnight never happens; the day starts at the jump (23:30 UTC, 00:30 local)."""
    jump = datetime(2026, 5, 9, 23, 30, tzinfo=UTC)
    tz = _zone_jumping_over_midnight(jump)
    assert from_us(to_us(jump) - 1).astimezone(tz).date() == date(2026, 5, 9)
    assert jump.astimezone(tz).replace(tzinfo=None) == datetime(2026, 5, 10, 0, 30)
    assert day_start_us(date(2026, 5, 10), tz) == to_us(jump)
    assert windows(jump - timedelta(minutes=1), tz).day_end == jump
