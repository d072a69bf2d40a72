"""The guard against a real redis-server: exact caps (I1) and the minimum gap (I2)."""

from __future__ import annotations

import itertools
import multiprocessing
import random
import time as walltime
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis

from config.settings import Settings
from planner import keys
from planner.clock import from_us, to_us
from planner.guard import COUNTER_GRACE_S, HORIZON_S, Guard, windows
from planner.store import CorruptState

BERLIN = ZoneInfo("Europe/Berlin")
US = 1_000_000


def make_settings(
    hourly: int = 1000,
    daily: int = 1000,
    weekly: int = 100_000,
    gap_min: float = 0.0,
    tz: str = "Europe/Berlin",
) -> Settings:
    """Consistent settings around the caps under test (budgets shrunk to fit them)."""
    budget_max = min(20, daily, hourly)
    target = min(80, weekly, 7 * budget_max)
    return Settings(
        _env_file=None,
        HOURLY_LIMIT=hourly,
        DAILY_LIMIT=daily,
        WEEKLY_LIMIT=weekly,
        DAILY_BUDGET_MIN=min(5, target // 7),
        DAILY_BUDGET_MAX=budget_max,
        WEEKLY_BUDGET_TARGET=target,
        TIMING_MIN_GAP_MINUTES=gap_min,
        TIMEZONE=tz,
    )


def local(day: date, hhmmss: str, tz: ZoneInfo = BERLIN) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmmss), tzinfo=tz)


# ---- calendar windows (pure) -----------------------------------------------------------

DST_DAYS = [
    # zone, the Sunday of a clock change, its length in hours
    ("Europe/Berlin", date(2026, 3, 29), 23),
    ("Europe/Berlin", date(2026, 10, 25), 25),
    ("America/New_York", date(2026, 3, 8), 23),
    ("America/New_York", date(2026, 11, 1), 25),
    ("Europe/Berlin", date(2026, 2, 15), 24),
]


@pytest.mark.parametrize(("zone", "sunday", "hours"), DST_DAYS)
def test_windows_follow_the_local_calendar(zone: str, sunday: date, hours: int) -> None:
    """Day and week windows end at local midnight / Monday 00:00, 23 or 25 h on DST days."""
    tz = ZoneInfo(zone)
    start = local(sunday, "00:00", tz)
    win = windows(start, tz)
    assert win.local_day == sunday
    assert win.iso_week == f"{sunday.isocalendar()[0]}-W{sunday.isocalendar()[1]:02d}"
    assert (win.day_end - start.astimezone(UTC)) == timedelta(hours=hours)
    assert win.week_end == win.day_end  # a Sunday: the week ends with the day
    monday = start - timedelta(days=6)
    assert windows(monday, tz).week_end - monday.astimezone(UTC) == timedelta(hours=6 * 24 + hours)
    assert windows(win.day_end, tz).local_day == sunday + timedelta(days=1)
    assert windows(win.day_end - timedelta(microseconds=1), tz).local_day == sunday


@pytest.mark.parametrize(("zone", "sunday", "hours"), DST_DAYS)
def test_day_and_week_counters_roll_over_locally(
    redis_client: redis.Redis, zone: str, sunday: date, hours: int
) -> None:
    """A full day / week blocks until the next local midnight / Monday, then resets."""
    tz = ZoneInfo(zone)
    start = local(sunday, "00:00", tz)
    day_guard = Guard(redis_client, make_settings(daily=1, tz=zone), "dayacct")
    assert day_guard.reserve("a", start).allowed
    day_ttl = redis_client.ttl(keys.guard_day("dayacct", sunday))
    assert day_ttl == hours * 3600 + COUNTER_GRACE_S  # expires a little after the local day
    refused = day_guard.reserve("b", start + timedelta(seconds=1))
    assert (refused.blocked_by, refused.retry_after_s) == ("day", hours * 3600 - 1)
    midnight = start.astimezone(UTC) + timedelta(hours=hours)  # UTC: wall clocks jump
    assert not day_guard.reserve("c", midnight - timedelta(microseconds=1)).allowed
    assert day_guard.reserve("d", midnight).counts == {"hour": 1, "day": 1, "week": 1}

    monday = start - timedelta(days=6)
    week_guard = Guard(redis_client, make_settings(weekly=1, tz=zone), "weekacct")
    assert week_guard.reserve("a", monday).allowed
    refused = week_guard.reserve("b", local(sunday, "12:00", tz))
    week_left = (midnight - local(sunday, "12:00", tz)).total_seconds()
    assert (refused.blocked_by, refused.retry_after_s) == ("week", week_left)
    assert week_guard.reserve("c", midnight).counts["week"] == 1


# ---- one guard, one process ------------------------------------------------------------

T = datetime(2026, 2, 10, 9, 0, tzinfo=UTC)


def test_rolling_hour_has_no_double_burst(redis_client: redis.Redis) -> None:
    """Five actions before 11:00 block the next until the oldest leaves the rolling hour."""
    guard = Guard(redis_client, make_settings(hourly=5), "acct")
    for minute in range(55, 60):
        assert guard.reserve(f"s{minute}", T.replace(hour=10, minute=minute)).allowed
    refused = guard.reserve("x", T.replace(hour=11, minute=1))
    assert (refused.blocked_by, refused.retry_after_s) == ("hour", 54 * 60)
    assert not guard.reserve("x", T.replace(hour=11, minute=54, second=59)).allowed
    assert guard.reserve("x", T.replace(hour=11, minute=55)).counts["hour"] == 5


def test_late_arrival_of_an_earlier_instant_is_checked(redis_client: redis.Redis) -> None:
    """An instant arriving after a later one still may not overfill any 60-minute window."""
    guard = Guard(redis_client, make_settings(hourly=2), "acct")
    assert guard.reserve("a", T.replace(minute=30)).allowed
    assert guard.reserve("b", T.replace(hour=10, minute=20)).allowed
    assert guard.reserve("late", T.replace(minute=50)).blocked_by == "hour"
    assert guard.reserve("early", T.replace(hour=8, minute=20)).allowed


def test_gap_is_enforced_on_both_sides(redis_client: redis.Redis) -> None:
    """Two actions closer than the gap are refused, with the wait until the gap has passed."""
    guard = Guard(redis_client, make_settings(gap_min=3), "acct")
    assert guard.reserve("a", T).allowed
    refused = guard.reserve("b", T + timedelta(seconds=100))
    assert (refused.blocked_by, refused.retry_after_s) == ("gap", 80.0)
    assert guard.reserve("c", T - timedelta(seconds=100)).blocked_by == "gap"
    assert guard.reserve("d", T + timedelta(seconds=180)).allowed


def test_reserving_twice_counts_once(redis_client: redis.Redis) -> None:
    """A second reserve for the same slot id says 'already reserved' and counts nothing."""
    guard = Guard(redis_client, make_settings(), "acct")
    first = guard.reserve("slot-1", T)
    again = guard.reserve("slot-1", T + timedelta(minutes=10))
    assert first.allowed and not first.already_reserved
    assert again.allowed and again.already_reserved
    assert again.counts == {"hour": 1, "day": 1, "week": 1}


def test_reservation_is_one_string_and_there_is_no_last_key(redis_client: redis.Redis) -> None:
    """A reservation is ``<at_us> <day key> <week key>`` living as long as its week counter;
    the guard keeps no key for the last action (the hour zset's newest entry is it)."""
    guard = Guard(redis_client, make_settings(), "acct")
    assert guard.reserve("a", T).allowed
    res = keys.guard_reservation("acct", "a")
    day_key = keys.guard_day("acct", date(2026, 2, 10))
    week_key = keys.guard_week("acct", "2026-W07")
    assert redis_client.type(res) == b"string"
    assert redis_client.get(res) == f"{to_us(T)} {day_key} {week_key}".encode()
    assert abs(redis_client.ttl(res) - redis_client.ttl(week_key)) <= 1
    guard_keys = [keys.guard_hour("acct"), keys.guard_trimmed("acct"), day_key, week_key, res]
    assert sorted(redis_client.keys("eng:{acct}:guard:*")) == sorted(k.encode() for k in guard_keys)


def test_last_action_is_the_newest_recorded_instant(redis_client: redis.Redis) -> None:
    """last_action_at is the newest entry of the hour zset, whatever ``now`` and whatever
    order the instants arrived in; a release of the newest uncovers the one before."""
    guard = Guard(redis_client, make_settings(hourly=10), "acct")
    assert guard.usage(T)["last_action_at"] is None
    for slot, minutes in (("a", 0), ("b", 20), ("late", 10)):
        assert guard.reserve(slot, T + timedelta(minutes=minutes)).allowed
    assert guard.usage(T)["last_action_at"] == T + timedelta(minutes=20)
    assert guard.release("b")
    assert guard.usage(T + timedelta(hours=5))["last_action_at"] == T + timedelta(minutes=10)
    assert guard.release("late") and guard.release("a")
    assert guard.usage(T)["last_action_at"] is None


def test_release_restores_counts(redis_client: redis.Redis) -> None:
    """Release removes a reservation from every window and the last-action instant, once."""
    guard = Guard(redis_client, make_settings(hourly=2, gap_min=1), "acct")
    guard.reserve("a", T)
    before = guard.usage(T + timedelta(minutes=30))
    guard.reserve("b", T + timedelta(minutes=20))
    assert guard.release("b") is True
    assert guard.release("b") is False
    after = guard.usage(T + timedelta(minutes=30))
    assert after == before
    assert after["last_action_at"] == T
    assert guard.reserve("b", T + timedelta(minutes=20)).allowed
    assert guard.release("a") and guard.release("b")
    assert guard.usage(T)["last_action_at"] is None
    assert redis_client.keys("eng:{acct}:guard:res:*") == []


def test_the_hour_zset_always_has_a_ttl(redis_client: redis.Redis) -> None:
    """The hour zset's TTL is not renewed by every action, but a zset emptied by a release
    (Redis deletes it) and created again by the next reserve gets one at once, and the trim
    mark still outlives it."""
    guard = Guard(redis_client, make_settings(hourly=100), "acct")
    hour, mark = keys.guard_hour("acct"), keys.guard_trimmed("acct")
    for i in range(3):
        assert guard.reserve(f"s{i}", T + timedelta(minutes=i)).allowed
        assert HORIZON_S < redis_client.ttl(hour) <= redis_client.ttl(mark)
        assert guard.release(f"s{i}") is True
        assert redis_client.exists(hour) == 0
    assert guard.reserve("x", T + timedelta(minutes=10)).allowed
    assert guard.reserve("y", T + timedelta(minutes=20)).allowed
    assert HORIZON_S < redis_client.ttl(hour) <= redis_client.ttl(mark)


def test_release_never_drives_a_counter_below_zero(redis_client: redis.Redis) -> None:
    """A counter found at zero stays at zero (with its TTL), one that is not a number is left
    alone, one that is gone stays gone; the rest of the release happens."""
    guard = Guard(redis_client, make_settings(), "acct")
    day_key = keys.guard_day("acct", date(2026, 2, 10))
    week_key = keys.guard_week("acct", "2026-W07")
    assert guard.reserve("a", T).allowed and guard.reserve("b", T + timedelta(minutes=1)).allowed
    redis_client.set(day_key, 0, keepttl=True)
    redis_client.set(week_key, "lots", keepttl=True)
    assert guard.release("a") is True
    assert redis_client.get(day_key) == b"0" and redis_client.ttl(day_key) > 0
    assert redis_client.get(week_key) == b"lots"
    redis_client.delete(day_key, week_key)
    assert guard.release("b") is True
    assert redis_client.exists(day_key, week_key) == 0
    assert redis_client.keys("eng:{acct}:guard:res:*") == []
    assert redis_client.exists(keys.guard_hour("acct")) == 0


def _as_hash(client: redis.Redis, key: str) -> None:
    """Store a reservation as an older layout did: a hash {at, day, week}, same TTL."""
    at_us, day_key, week_key = client.get(key).decode().split(" ")
    ttl = client.pttl(key)
    client.delete(key)
    client.hset(key, mapping={"at": at_us, "day": day_key, "week": week_key})
    client.pexpire(key, ttl)


def test_reservations_an_older_layout_stored_as_hashes(redis_client: redis.Redis) -> None:
    """Reservations made before the upgrade (hashes) still count once and release exactly."""
    guard = Guard(redis_client, make_settings(hourly=10), "acct")
    day_key = keys.guard_day("acct", date(2026, 2, 10))
    for slot, minutes in (("a", 0), ("b", 1)):
        assert guard.reserve(slot, T + timedelta(minutes=minutes)).allowed
        _as_hash(redis_client, keys.guard_reservation("acct", slot))
    again = guard.reserve("a", T + timedelta(minutes=2))
    assert again.allowed and again.already_reserved
    assert again.counts == {"hour": 2, "day": 2, "week": 2}
    assert redis_client.type(keys.guard_reservation("acct", "a")) == b"hash"
    assert guard.release("b") is True and guard.release("b") is False
    assert redis_client.get(day_key) == b"1"
    assert redis_client.zrange(keys.guard_hour("acct"), 0, -1) == [b"a"]


def _calls(client: redis.Redis) -> Counter[str]:
    """Commands the server ran so far, by name (those inside scripts included)."""
    stats = client.info("commandstats")
    return Counter({name.removeprefix("cmdstat_"): s["calls"] for name, s in stats.items()})


def _calls_of(client: redis.Redis, call: Any) -> Counter[str]:
    before = _calls(client)
    call()
    ran = _calls(client) - before
    for name in ("info", "evalsha", "hello", "client"):  # the call itself; a new connection
        ran.pop(name, None)
    return ran


def test_redis_calls_inside_the_scripts(redis_client: redis.Redis) -> None:
    """Each redis.call in a script has a fixed cost on the server (and each write an AOF
    append), and each instant read one of its own: a granted reserve makes eight once the
    day's counters and the hour zset exist and reads one instant (the nearest within the
    gap), a release five; a refusal four, a repeated reserve two. The instants around now
    are read only once there are as many as the hourly cap."""
    guard = Guard(redis_client, make_settings(hourly=100, gap_min=1), "acct")
    assert guard.reserve("first", T).allowed  # creates the counters, the zset, the mark

    def reserve(slot: str, seconds: int) -> Any:
        return lambda: guard.reserve(slot, T + timedelta(seconds=seconds))

    checks = Counter({"mget": 1, "zcount": 2, "zrevrangebyscore": 1})
    granted = checks + Counter({"set": 1, "zadd": 1, "incr": 2})
    assert _calls_of(redis_client, reserve("a", 300)) == granted
    assert _calls_of(redis_client, reserve("b", 330)) == checks
    assert _calls_of(redis_client, reserve("a", 400)) == {"mget": 1, "zcount": 1}
    released = {"get": 1, "zrem": 1, "decr": 2, "del": 1}
    assert _calls_of(redis_client, lambda: guard.release("a")) == released
    assert _calls_of(redis_client, lambda: guard.release("a")) == {"get": 1}
    # every action released: the zset is gone (a new one needs its TTL), the counters are at
    # zero and keep theirs
    assert guard.release("first")
    assert redis_client.exists(keys.guard_hour("acct")) == 0
    alone = Counter({"mget": 1, "zcount": 1, "set": 1, "zadd": 1, "incr": 2, "expire": 1})
    assert _calls_of(redis_client, reserve("c", 500)) == alone
    day_ttl = redis_client.ttl(keys.guard_day("acct", date(2026, 2, 10)))
    assert 14 * 3600 + COUNTER_GRACE_S - 10 < day_ttl <= 14 * 3600 + COUNTER_GRACE_S  # from T


def test_the_instants_are_read_once_the_hourly_cap_could_block(
    redis_client: redis.Redis,
) -> None:
    """With hourly - 1 actions around now, counting is enough; with hourly, the instants
    are read, and the hour refuses only when a window would hold more than the cap."""
    guard = Guard(redis_client, make_settings(hourly=2, gap_min=0), "acct")
    assert guard.reserve("a", T).allowed
    counted = Counter({"mget": 1, "zcount": 2, "set": 1, "zadd": 1, "incr": 2})
    assert _calls_of(redis_client, lambda: guard.reserve("b", T + timedelta(minutes=10))) == (
        counted
    )
    read: Counter[str] = Counter()
    decisions = []

    def third() -> None:
        decisions.append(guard.reserve("c", T + timedelta(minutes=50)))

    read = _calls_of(redis_client, third)
    assert read == Counter({"mget": 1, "zcount": 2, "zrangebyscore": 1})
    assert decisions[0].blocked_by == "hour"
    assert decisions[0].retry_after_s == 10 * 60  # when "a" leaves the window
    assert guard.reserve("c", T + timedelta(minutes=60)).allowed


def test_default_now_is_the_server_clock(redis_client: redis.Redis) -> None:
    """Without an explicit now the guard uses Redis TIME, within a second of ours."""
    decision = Guard(redis_client, make_settings(), "acct").reserve("a")
    assert abs((decision.at - datetime.now(UTC)).total_seconds()) < 1


def test_corrupt_counter_is_refused(redis_client: redis.Redis) -> None:
    """A day counter that is not a number raises CorruptState and records nothing."""
    guard = Guard(redis_client, make_settings(), "acct")
    redis_client.set(keys.guard_day("acct", date(2026, 2, 10)), "lots")
    with pytest.raises(CorruptState, match="not a number"):
        guard.reserve("a", T)
    assert redis_client.exists(keys.guard_hour("acct")) == 0


def test_microsecond_round_trip() -> None:
    """Instants survive the epoch-microsecond encoding exactly."""
    instant = datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC)
    assert from_us(to_us(instant)) == instant


# ---- I1 / I2 under concurrency ---------------------------------------------------------

PROCESSES = 8
ATTEMPTS = 2000


def _hammer(task: dict[str, Any]) -> list[tuple[str, int]]:
    """One worker process: reserve distinct slot ids at random explicit instants."""
    client = redis.Redis.from_url(task["url"])
    guard = Guard(client, make_settings(**task["caps"]), task["account"])
    rng = random.Random(task["seed"])
    instants = [rng.randrange(task["t0_us"], task["t1_us"]) for _ in range(ATTEMPTS)]
    while walltime.time() < task["start_at"]:  # start all workers together
        walltime.sleep(0.001)
    won = []
    for i, at_us in enumerate(instants):
        slot_id = f"p{task['proc']}-{i}"
        if guard.reserve(slot_id, from_us(at_us)).allowed:
            won.append((slot_id, at_us))
    client.close()
    return won


def _warm_up(_: int) -> None:
    """Import this module in a worker process (the hammer's imports), then idle a moment."""
    walltime.sleep(0.2)


@pytest.fixture(scope="module")
def pool() -> Iterator[Any]:
    """Eight spawned worker processes, shared by the hammer runs of this module."""
    with multiprocessing.get_context("spawn").Pool(PROCESSES) as workers:
        workers.map(_warm_up, range(PROCESSES), chunksize=1)  # imports, before the runs
        yield workers


def hammer(pool: Any, url: str, caps: dict[str, Any], t0: datetime, t1: datetime) -> list[int]:
    """Run 8 x 2,000 attempts in parallel; the sorted instants that were admitted."""
    start_at = walltime.time() + 0.3
    tasks = [
        {
            "url": url,
            "caps": caps,
            "account": "hammer",
            "proc": proc,
            "seed": 1000 + proc,
            "t0_us": to_us(t0),
            "t1_us": to_us(t1),
            "start_at": start_at,
        }
        for proc in range(PROCESSES)
    ]
    won = [item for chunk in pool.map(_hammer, tasks) for item in chunk]
    assert len({slot for slot, _ in won}) == len(won)
    return sorted(at for _, at in won)


def busiest_hour(instants: list[int]) -> int:
    """Most instants in any half-open 60-minute window."""
    best, lo = 0, 0
    for hi, at in enumerate(instants):
        while at - instants[lo] >= 3600 * US:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def local_days(instants: list[int], tz: ZoneInfo) -> Counter[date]:
    return Counter(from_us(at).astimezone(tz).date() for at in instants)


def local_weeks(instants: list[int], tz: ZoneInfo) -> Counter[tuple[int, int]]:
    return Counter(from_us(at).astimezone(tz).isocalendar()[:2] for at in instants)


MONDAY = local(date(2026, 3, 23), "00:00")  # the week of Berlin's spring-forward Sunday


def test_hourly_cap_is_exact_under_concurrency(pool: Any, redis_url: str) -> None:
    """8 x 2,000 attempts over three hours: every 60-minute window holds at most 5, some 5."""
    won = hammer(pool, redis_url, {"hourly": 5}, MONDAY, MONDAY + timedelta(hours=3))
    assert busiest_hour(won) == 5


def test_daily_cap_is_exact_under_concurrency(pool: Any, redis_url: str) -> None:
    """8 x 2,000 attempts over Saturday and the 23-hour Sunday: exactly 7 on each local day."""
    saturday = local(date(2026, 3, 28), "00:00")
    won = hammer(pool, redis_url, {"daily": 7}, saturday, saturday + timedelta(hours=47))
    assert local_days(won, BERLIN) == {date(2026, 3, 28): 7, date(2026, 3, 29): 7}
    client = redis.Redis.from_url(redis_url)
    assert client.get(keys.guard_day("hammer", date(2026, 3, 29))) == b"7"


def test_weekly_cap_is_exact_under_concurrency(pool: Any, redis_url: str) -> None:
    """8 x 2,000 attempts over two local weeks: exactly 9 in each ISO week."""
    won = hammer(
        pool, redis_url, {"weekly": 9}, MONDAY, MONDAY + timedelta(days=14) - timedelta(hours=1)
    )
    assert local_weeks(won, BERLIN) == {(2026, 13): 9, (2026, 14): 9}


def test_all_caps_and_gap_together_under_concurrency(pool: Any, redis_url: str) -> None:
    """Hourly 5, daily 7, weekly 9 and a 2-minute gap at once: each holds, the week fills."""
    caps = {"hourly": 5, "daily": 7, "weekly": 9, "gap_min": 2}
    saturday = local(date(2026, 3, 28), "09:00")
    won = hammer(pool, redis_url, caps, saturday, saturday + timedelta(hours=27))
    assert busiest_hour(won) <= 5
    assert max(local_days(won, BERLIN).values()) <= 7
    assert local_weeks(won, BERLIN) == {(2026, 13): 9}
    assert min(b - a for a, b in itertools.pairwise(won)) >= 120 * US


def test_gap_holds_under_concurrency(pool: Any, redis_url: str) -> None:
    """8 x 2,000 attempts over two hours with a 5-minute gap: admitted instants >= 5 min apart."""
    won = hammer(pool, redis_url, {"gap_min": 5}, MONDAY, MONDAY + timedelta(hours=2))
    gaps = [b - a for a, b in itertools.pairwise(won)]
    assert min(gaps) >= 300 * US
    assert len(won) >= 12  # greedy random arrival still packs 2 h reasonably


def _reserve_and_release(task: dict[str, Any]) -> list[str]:
    """One worker process: reserve slots at random instants; release each one it won with
    probability 1/2, right away, while the other processes keep reserving."""
    client = redis.Redis.from_url(task["url"])
    guard = Guard(client, make_settings(**task["caps"]), task["account"])
    rng = random.Random(task["seed"])
    while walltime.time() < task["start_at"]:
        walltime.sleep(0.001)
    kept = []
    for i in range(ATTEMPTS):
        slot_id = f"p{task['proc']}-{i}"
        if guard.reserve(slot_id, from_us(rng.randrange(task["t0_us"], task["t1_us"]))).allowed:
            if rng.random() < 0.5:
                assert guard.release(slot_id) is True
                assert guard.release(slot_id) is False
            else:
                kept.append(slot_id)
    client.close()
    return kept


def test_release_is_exact_under_concurrent_reserves(pool: Any, redis_url: str) -> None:
    """8 x 2,000 reserve attempts over two local days, half the winners released at once:
    the counters, the hour zset and the reservations left agree exactly, each day full."""
    saturday = local(date(2026, 3, 28), "00:00")
    start_at = walltime.time() + 0.3
    tasks = [
        {
            "url": redis_url,
            "caps": {"daily": 7},
            "account": "hammer",
            "proc": proc,
            "seed": 2000 + proc,
            "t0_us": to_us(saturday),
            "t1_us": to_us(saturday + timedelta(hours=47)),
            "start_at": start_at,
        }
        for proc in range(PROCESSES)
    ]
    kept = sorted(slot for chunk in pool.map(_reserve_and_release, tasks) for slot in chunk)
    client = redis.Redis.from_url(redis_url)
    hour_zset = sorted(m.decode() for m in client.zrange(keys.guard_hour("hammer"), 0, -1))
    reservations = sorted(
        k.decode().rsplit(":", 1)[1] for k in client.keys("eng:{hammer}:guard:res:*")
    )
    assert hour_zset == reservations == kept
    instants = sorted(int(client.zscore(keys.guard_hour("hammer"), s) or 0) for s in kept)
    per_day = local_days(instants, BERLIN)
    assert per_day == {date(2026, 3, 28): 7, date(2026, 3, 29): 7}
    for day, count in per_day.items():
        assert client.get(keys.guard_day("hammer", day)) == str(count).encode()
    assert client.get(keys.guard_week("hammer", "2026-W13")) == b"14"
    client.close()
