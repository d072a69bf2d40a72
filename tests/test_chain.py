"""The daily chain: each tick plans a missing week, revises it and schedules the next tick."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import redis

from config.settings import Settings
from planner import chain
from planner.server_clock import ServerClock
from planner.service import Live
from worker import jobs, runtime

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "profiles.csv"


@pytest.fixture
def worker_env(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> Iterator[None]:
    """The worker's runtime reads its settings from this environment."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("PROFILES_PATH", str(EXAMPLES))
    runtime.runtime.cache_clear()
    yield
    runtime.runtime.cache_clear()


def test_tick_plans_revises_and_chains(worker_env: None, redis_client: redis.Redis) -> None:
    """A Monday tick stores the week and schedules Tuesday's tick; repeating it is harmless."""
    monday = datetime(2026, 2, 9, 6, 0, tzinfo=UTC)
    ServerClock(redis_client, "default").install(monday, 1.0)
    summary = jobs.chain_tick("default")
    assert summary.startswith("week created")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    live = Live.connect(redis_client, settings, "default")
    plan = live.store.load_week("default", date(2026, 2, 9))
    assert plan is not None and plan.total_budget == settings.WEEKLY_BUDGET_TARGET
    tuesday = chain.tick_job_id("default", date(2026, 2, 10))
    assert live.queue.scheduled_at(tuesday) is not None
    again = jobs.chain_tick("default")
    assert again.startswith("week exists")
    assert live.store.list_weeks("default") == [date(2026, 2, 9)]


def test_tick_keeps_the_chain_when_the_day_fails(
    worker_env: None, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even when today's work raises, tomorrow's tick is scheduled."""
    monday = datetime(2026, 2, 9, 6, 0, tzinfo=UTC)
    ServerClock(redis_client, "default").install(monday, 1.0)

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("source exploded")

    monkeypatch.setattr(jobs, "generate", boom)
    with pytest.raises(RuntimeError):
        jobs.chain_tick("default")
    live = Live.connect(redis_client, Settings(_env_file=None), "default")  # type: ignore[call-arg]
    assert live.queue.scheduled_at(chain.tick_job_id("default", date(2026, 2, 10))) is not None
