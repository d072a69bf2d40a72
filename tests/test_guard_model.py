"""The guard's rolling hour and gap against a plain model, on a real redis-server.

The script reads the instants around now only when there are as many as the hourly cap
(otherwise it counts them). The model always reads them all and checks every run of
hourly + 1 instants that includes now, in whatever order the instants arrive: the two must
agree on every decision, wait and count.
"""

from __future__ import annotations

import bisect
import itertools
from datetime import UTC, datetime, timedelta

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.clock import to_us
from planner.guard import WINDOW_S, Guard
from tests.test_guard import make_settings

W = WINDOW_S * 1_000_000
START = datetime(2026, 2, 10, 8, 0, tzinfo=UTC)
_accounts = itertools.count()


def model(recorded: list[int], now: int, hourly: int, gap: int) -> tuple[str, int, int]:
    """(blocked_by or '-', wait us, actions in (now - W, now]) as the full check finds them."""
    near = [t for t in recorded if now - W < t < now + W]
    p = bisect.bisect_right(near, now)
    times = [*near[:p], now, *near[p:]]
    hour = p
    hour_wait = 0
    for i in range(max(0, p - hourly), min(p, len(times) - 1 - hourly) + 1):
        if times[i + hourly] - times[i] < W:
            hour_wait = max(hour_wait, times[i] + W - now)
    close = [t for t in recorded if now - gap < t < now + gap]
    gap_wait = max(close) + gap - now if gap and close else 0
    blocked, wait = "-", 0
    if hour_wait > wait:
        blocked, wait = "hour", hour_wait
    if gap_wait > wait:
        blocked, wait = "gap", gap_wait
    return blocked, wait, hour


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    hourly=st.integers(1, 5),
    gap_min=st.sampled_from([0.0, 0.5, 7.0, 90.0]),
    offsets_s=st.lists(st.integers(0, 5 * 3600), min_size=1, max_size=25),
)
def test_decisions_agree_with_the_full_check(
    redis_client: redis.Redis, hourly: int, gap_min: float, offsets_s: list[int]
) -> None:
    account = f"model{next(_accounts)}"
    guard = Guard(redis_client, make_settings(hourly=hourly, gap_min=gap_min), account)
    gap = round(gap_min * 60 * 1_000_000)
    recorded: list[int] = []
    for n, offset in enumerate(offsets_s):
        at = START + timedelta(seconds=offset)
        now = to_us(at)
        blocked, wait, hour = model(recorded, now, hourly, gap)
        decision = guard.reserve(f"s{n}", at)
        assert decision.allowed == (blocked == "-"), (n, offset, recorded)
        assert (decision.blocked_by or "-") == blocked
        assert round(decision.retry_after_s * 1_000_000) == wait
        assert decision.counts["hour"] == hour + decision.allowed
        if decision.allowed:
            bisect.insort(recorded, now)
