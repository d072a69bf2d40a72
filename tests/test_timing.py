"""Intra-day timing: DST windows, the rules every sampled day keeps, and the law it follows."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from scipy import stats

from config.settings import Settings, max_actions_in_window
from planner import timing
from planner.timing import (
    TimingError,
    capacity,
    day_window,
    intensity_cdf,
    local_hhmm,
    retime,
    sample_day_times,
)

DAY = date(2026, 2, 9)
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]
DST_DAYS = [
    ("Europe/Berlin", date(2026, 3, 29)),
    ("Europe/Berlin", date(2026, 10, 25)),
    ("America/New_York", date(2026, 3, 8)),
    ("America/New_York", date(2026, 11, 1)),
]


def make(**overrides: Any) -> Settings:
    """Settings with a budget small enough that any short window validates."""
    base: dict[str, Any] = {"DAILY_BUDGET_MIN": 0, "DAILY_BUDGET_MAX": 1, "WEEKLY_BUDGET_TARGET": 0}
    return Settings(_env_file=None, **{**base, **overrides})


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=UTC)


def check_rules(times: list[datetime], s: Settings, lower: datetime, upper: datetime) -> None:
    """Assert sorted, whole seconds, inside [lower, upper), gap and rolling-hour cap."""
    assert times == sorted(times)
    assert all(t.tzinfo is UTC and t.microsecond == 0 for t in times)
    assert all(lower <= t < upper for t in times)
    gap = timedelta(minutes=s.TIMING_MIN_GAP_MINUTES)
    assert all(b - a >= gap for a, b in itertools.pairwise(times))
    h = s.HOURLY_LIMIT
    assert all(times[i] - times[i - h] >= timedelta(hours=1) for i in range(h, len(times)))


# ---- day_window ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "day", "window", "want_utc"),
    [
        ("UTC", "2026-02-09", "09:00-18:00", "2026-02-09T09:00/2026-02-09T18:00"),
        ("Europe/Berlin", "2026-02-09", "09:00-18:00", "2026-02-09T08:00/2026-02-09T17:00"),
        # spring forward: 02:00 CET -> 03:00 CEST at 01:00 UTC
        ("Europe/Berlin", "2026-03-29", "01:00-06:00", "2026-03-29T00:00/2026-03-29T04:00"),
        ("Europe/Berlin", "2026-03-29", "02:30-06:00", "2026-03-29T01:00/2026-03-29T04:00"),
        ("Europe/Berlin", "2026-03-29", "01:00-02:30", "2026-03-29T00:00/2026-03-29T01:00"),
        # fall back: 03:00 CEST -> 02:00 CET at 01:00 UTC; 02:30 happens twice
        ("Europe/Berlin", "2026-10-25", "01:00-06:00", "2026-10-24T23:00/2026-10-25T05:00"),
        ("Europe/Berlin", "2026-10-25", "02:30-06:00", "2026-10-25T00:30/2026-10-25T05:00"),
        # spring forward: 02:00 EST -> 03:00 EDT at 07:00 UTC
        ("America/New_York", "2026-03-08", "01:00-06:00", "2026-03-08T06:00/2026-03-08T10:00"),
        ("America/New_York", "2026-03-08", "02:15-06:00", "2026-03-08T07:00/2026-03-08T10:00"),
        # fall back: 02:00 EDT -> 01:00 EST at 06:00 UTC; 01:00-02:00 happens twice
        ("America/New_York", "2026-11-01", "01:00-06:00", "2026-11-01T05:00/2026-11-01T11:00"),
        ("America/New_York", "2026-11-01", "01:30-01:45", "2026-11-01T05:30/2026-11-01T05:45"),
    ],
)
def test_day_window_table(tz: str, day: str, window: str, want_utc: str) -> None:
    """The window's UTC bounds follow the local clock, gaps and first occurrences included."""
    start, end = (time.fromisoformat(part) for part in window.split("-"))
    s = make(TIMEZONE=tz, OPERATING_START=start, OPERATING_END=end)
    want = tuple(datetime.fromisoformat(part).replace(tzinfo=UTC) for part in want_utc.split("/"))
    assert day_window(date.fromisoformat(day), s) == want


@pytest.mark.parametrize(("tz", "day"), DST_DAYS)
def test_dst_day_capacity_follows_real_time(tz: str, day: date) -> None:
    """A 01:00-06:00 window on a clock-change day holds as many actions as its real hours."""
    s = make(TIMEZONE=tz, OPERATING_START=time(1), OPERATING_END=time(6))
    start, end = day_window(day, s)
    hours = round((end - start) / timedelta(hours=1))
    assert hours in (4, 6)
    assert capacity(day, s) == hours * s.HOURLY_LIMIT
    times = sample_day_times(np.random.default_rng(1), capacity(day, s) - 2, day, s)
    check_rules(times, s, start, end)


def test_fall_back_repeated_hour_gets_its_share() -> None:
    """On a fall-back day a flat-rate window is uniform in real time, repeated hour included."""
    s = make(TIMEZONE="America/New_York", OPERATING_START=time(1), OPERATING_END=time(6))
    day = date(2026, 11, 1)
    start, end = day_window(day, s)
    rng = np.random.default_rng(5)
    elapsed = [(sample_day_times(rng, 1, day, s)[0] - start).total_seconds() for _ in range(3000)]
    width = (end - start).total_seconds()
    assert stats.kstest(elapsed, stats.uniform(0, width).cdf).pvalue > 1e-3


# ---- the rules, over random settings -------------------------------------------------------


@st.composite
def timing_cases(draw: st.DrawFn) -> tuple[Settings, date, int, int, int]:
    """Random valid settings, a day (clock-change days included), n <= capacity and a seed."""
    start = draw(st.integers(0, 22 * 12)) * 5
    length = draw(st.integers(6, min(12 * 60, 23 * 60 + 55 - start) // 5)) * 5
    end = start + length
    s = make(
        TIMEZONE=draw(st.sampled_from(ZONES)),
        OPERATING_START=time(start // 60, start % 60),
        OPERATING_END=time(end // 60, end % 60),
        TIMING_MIN_GAP_MINUTES=draw(st.sampled_from([0, 0.1, 0.5, 1, 2, 3, 4.25, 7, 10])),
        TIMING_JITTER_MINUTES=draw(st.sampled_from([0, 2.5, 5, 10])),
        HOURLY_LIMIT=draw(st.integers(1, 20)),
    )
    day = draw(st.sampled_from([d for _, d in DST_DAYS] + [DAY, date(2026, 7, 1)]))
    cap = capacity(day, s)
    return s, day, draw(st.integers(0, cap)), cap, draw(st.integers(0, 2**32))


@hyp_settings(max_examples=150, deadline=None)
@given(timing_cases())
def test_sampled_days_keep_every_rule(case: tuple[Settings, date, int, int, int]) -> None:
    """Any n <= capacity gives n sorted whole-second times inside the window, gap and cap kept."""
    s, day, n, _, seed = case
    times = sample_day_times(np.random.default_rng(seed), n, day, s)
    assert len(times) == n
    check_rules(times, s, *day_window(day, s))


@hyp_settings(max_examples=60, deadline=None)
@given(timing_cases())
def test_same_seed_same_times(case: tuple[Settings, date, int, int, int]) -> None:
    """The same seed and inputs give the same times (I8)."""
    s, day, n, _, seed = case
    first = sample_day_times(np.random.default_rng(seed), n, day, s)
    assert sample_day_times(np.random.default_rng(seed), n, day, s) == first


@hyp_settings(max_examples=60, deadline=None)
@given(timing_cases())
def test_more_than_capacity_is_refused(case: tuple[Settings, date, int, int, int]) -> None:
    """Asking for capacity + 1 actions raises TimingError naming the numbers."""
    s, day, _, cap, seed = case
    with pytest.raises(TimingError, match=rf"^{cap + 1} actions cannot fit .* at most {cap} "):
        sample_day_times(np.random.default_rng(seed), cap + 1, day, s)


@hyp_settings(max_examples=60, deadline=None)
@given(timing_cases(), st.floats(0.0, 1.0))
def test_not_before_keeps_every_rule(
    case: tuple[Settings, date, int, int, int], where: float
) -> None:
    """With a not_before inside the window the times fit the rest of it."""
    s, day, _, _, seed = case
    start, end = day_window(day, s)
    not_before = start + (end - start) * where + timedelta(microseconds=123)
    cap = capacity(day, s, not_before=not_before)
    times = sample_day_times(np.random.default_rng(seed), cap, day, s, not_before=not_before)
    assert len(times) == cap
    check_rules(times, s, not_before, end)


@hyp_settings(max_examples=60, deadline=None)
@given(st.integers(1, 10), st.integers(1, 20), st.integers(6, 144))
def test_capacity_matches_the_settings_check(gap: int, hourly: int, length5: int) -> None:
    """capacity() agrees with the settings' own max_actions_in_window on a plain day."""
    end = 6 * 60 + 5 * length5
    s = make(
        OPERATING_START=time(6),
        OPERATING_END=time(end // 60, end % 60),
        TIMING_MIN_GAP_MINUTES=gap,
        HOURLY_LIMIT=hourly,
    )
    assert capacity(DAY, s) == max_actions_in_window(s.window_minutes, gap, hourly)


def test_fallback_keeps_every_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sequential fallback fills a window to capacity without breaking a rule."""
    monkeypatch.setattr(timing, "MAX_ATTEMPTS", 0)
    s = make(OPERATING_START=time(9), OPERATING_END=time(11), TIMING_MIN_GAP_MINUTES=7)
    cap = capacity(DAY, s)
    for seed in range(50):
        times = sample_day_times(np.random.default_rng(seed), cap, DAY, s)
        assert len(times) == cap
        check_rules(times, s, *day_window(DAY, s))


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/New_York"])
def test_not_before_is_an_instant_rounded_up_to_a_second(zone: str) -> None:
    """not_before counts as the instant it names in any zone; a part second starts the next."""
    base = utc(2026, 2, 9, 9)
    us, s = timedelta(microseconds=1), timedelta(seconds=1)
    cases = [(0 * s, 0), (us, 1), (s - us, 1), (s, 1), (90 * 60 * s + us, 5401), (-us, 0)]
    for ahead, first in [*cases, (timedelta(days=-3), 0), (timedelta(days=2), 2 * 86_400)]:
        not_before = (base + ahead).astimezone(ZoneInfo(zone))
        assert timing._first_second(base, not_before) == first
    assert timing._first_second(base, None) == 0
    with pytest.raises(ValueError, match="not_before must be timezone-aware"):
        timing._first_second(base, datetime(2026, 2, 9, 10))


def test_refusals_and_empty_rest(settings: Settings) -> None:
    """Negative n and any n after the window's end are refused; zero is an empty day."""
    rng = np.random.default_rng(0)
    late = utc(2026, 2, 9, 18)
    assert capacity(DAY, settings, not_before=late) == 0
    assert sample_day_times(rng, 0, DAY, settings, not_before=late) == []
    with pytest.raises(TimingError, match="at most 0"):
        sample_day_times(rng, 1, DAY, settings, not_before=late)
    with pytest.raises(TimingError):
        sample_day_times(rng, -1, DAY, settings)


def test_exact_regression(settings: Settings) -> None:
    """A fixed seed gives fixed times (guards against accidental changes of the law)."""
    times = sample_day_times(np.random.default_rng(20260209), 5, DAY, settings)
    assert [t.isoformat() for t in times] == [
        "2026-02-09T09:16:45+00:00",
        "2026-02-09T09:28:30+00:00",
        "2026-02-09T10:31:37+00:00",
        "2026-02-09T14:11:54+00:00",
        "2026-02-09T15:56:34+00:00",
    ]


# ---- the law -------------------------------------------------------------------------------


def _inverse_cdf(s: Settings, u: np.ndarray) -> np.ndarray:
    a = s.OPERATING_START.hour * 60 + s.OPERATING_START.minute
    grid = np.linspace(a, a + s.window_minutes, 20_001)
    return np.asarray(np.interp(u, intensity_cdf(s)(grid), grid), dtype=np.float64)


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin"])
def test_single_times_follow_the_intensity(tz: str) -> None:
    """One time per day is a draw from the configured intensity on the local clock."""
    s = make(TIMEZONE=tz)
    day = date(2026, 7, 1)
    rng = np.random.default_rng(3)
    local = [
        sample_day_times(rng, 1, day, s)[0].astimezone(s.tz).replace(tzinfo=None)
        for _ in range(4000)
    ]
    minutes = [(t - datetime(2026, 7, 1)) / timedelta(minutes=1) for t in local]
    assert stats.kstest(minutes, intensity_cdf(s)).pvalue > 1e-3


def test_gap_sampler_matches_rejection_sampling() -> None:
    """Each order statistic matches i.i.d. intensity draws rejected unless gap and cap hold."""
    s = make(
        OPERATING_START=time(9),
        OPERATING_END=time(10, 30),
        TIMING_MIN_GAP_MINUTES=10,
        HOURLY_LIMIT=2,
    )
    n = 3
    rng = np.random.default_rng(17)
    draws = np.sort(_inverse_cdf(s, rng.random((200_000, n))), axis=1)
    gap_ok = np.all(np.diff(draws, axis=1) >= 10, axis=1)
    ok = gap_ok & np.all(draws[:, 2:] - draws[:, :-2] >= 60, axis=1)
    reference = draws[ok]
    assert len(reference) > 3000
    start, _ = day_window(DAY, s)
    sampled = np.array(
        [
            [(t - start) / timedelta(minutes=1) + 540 for t in sample_day_times(rng, n, DAY, s)]
            for _ in range(3000)
        ]
    )
    for i in range(n):
        assert stats.kstest(sampled[:, i], reference[:, i]).pvalue > 1e-3, f"point {i}"


def test_flat_rate_matches_the_shortened_window_trick() -> None:
    """With a flat rate the sampler matches the exact trick: shorten by the gaps, add them back."""
    s = make(
        OPERATING_START=time(9),
        OPERATING_END=time(10),
        TIMING_JITTER_MINUTES=0,
        TIMING_MIN_GAP_MINUTES=10,
        HOURLY_LIMIT=20,
    )
    n = 4
    rng = np.random.default_rng(23)
    exact = np.sort(rng.uniform(0, 60 - (n - 1) * 10, (20_000, n)), axis=1) + 10 * np.arange(n)
    start, _ = day_window(DAY, s)
    sampled = np.array(
        [
            [(t - start) / timedelta(minutes=1) for t in sample_day_times(rng, n, DAY, s)]
            for _ in range(3000)
        ]
    )
    for i in range(n):
        assert stats.kstest(sampled[:, i], exact[:, i]).pvalue > 1e-3, f"point {i}"


# ---- retime and local_hhmm -----------------------------------------------------------------


def test_retime_respects_taken_instants(settings: Settings) -> None:
    """A retimed instant keeps the gap to every taken one and the rolling-hour cap."""
    rng = np.random.default_rng(8)
    start, end = day_window(DAY, settings)
    for _ in range(200):
        taken = sample_day_times(rng, int(rng.integers(5, 40)), DAY, settings)
        not_before = start + (end - start) * float(rng.random())
        new = retime(rng, DAY, settings, taken=taken, not_before=not_before)
        if new is None:
            continue
        assert not_before <= new < end and new.microsecond == 0
        check_rules(sorted([*taken, new]), settings, start, end)


def test_retime_none_when_nothing_fits(settings: Settings) -> None:
    """A full rest of the window or a not_before past its end leaves nowhere to go."""
    rng = np.random.default_rng(0)
    _, end = day_window(DAY, settings)
    assert retime(rng, DAY, settings, taken=[], not_before=end) is None
    last_hour = [end - timedelta(minutes=m) for m in (5, 15, 25, 35, 45, 55)]
    new = retime(rng, DAY, settings, taken=last_hour, not_before=end - timedelta(hours=1))
    assert new is None


def test_retime_follows_the_intensity(settings: Settings) -> None:
    """With nothing taken a retimed instant is a draw from the intensity."""
    rng = np.random.default_rng(4)
    start, _ = day_window(DAY, settings)
    minutes = [
        (retime(rng, DAY, settings, taken=[], not_before=start) - start) / timedelta(minutes=1)  # type: ignore[operator]
        + 540
        for _ in range(2000)
    ]
    assert stats.kstest(minutes, intensity_cdf(settings)).pvalue > 1e-3


def test_local_hhmm() -> None:
    """HH:MM is read on the account's clock; naive instants are refused."""
    s = make(TIMEZONE="Europe/Berlin")
    assert local_hhmm(utc(2026, 7, 1, 7, 23, 59), s) == "09:23"
    with pytest.raises(ValueError, match="naive"):
        local_hhmm(datetime(2026, 7, 1, 7, 23), s)
