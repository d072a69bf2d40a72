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
from planner.guard import COUNTER_GRACE_S, Guard, from_us, to_us, windows
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
