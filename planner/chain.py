"""The daily chain: at CHAIN_TIME local each day, make sure the week exists and revise it.

Each tick is a delayed job that schedules its successor, with a deterministic id per
account and local date, so installing the chain twice (``python -m planner schedule``) or
a tick that runs twice never forks it. Local times go through zoneinfo, so the tick stays
at 06:00 across clock changes.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from planner.service import Live
from planner.timing import day_window

CHAIN_FUNC = "worker.jobs.chain_tick"
CHAIN_TIME = time(6, 0)


def tick_job_id(account: str, day: date) -> str:
    return f"chain-{account}-{day:%Y%m%d}"


def tick_instant(day: date, live: Live) -> datetime:
    """CHAIN_TIME on local ``day``, but never after that day's window opens."""
    local = datetime.combine(day, CHAIN_TIME, tzinfo=live.settings.tz)
    start, _ = day_window(day, live.settings)
    return min(local.astimezone(start.tzinfo), start - timedelta(minutes=5))


def next_tick_day(now: datetime, live: Live) -> date:
    """Today if today's tick is still ahead, else tomorrow."""
    today = live.today(now)
    return today if tick_instant(today, live) > now else today + timedelta(days=1)


def install(live: Live, now: datetime) -> tuple[str, datetime, bool]:
    """Schedule the next tick; (job id, instant, newly scheduled)."""
    day = next_tick_day(now, live)
    at = tick_instant(day, live)
    job_id = tick_job_id(live.account, day)
    added = live.queue.schedule(job_id, live.clock.to_real(at), CHAIN_FUNC, (live.account,))
    return job_id, at, added
