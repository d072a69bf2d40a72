"""Shared fixtures: a real redis-server for the whole session, flushed between tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import redis
from hypothesis import settings as hypothesis_settings

from config.settings import Settings
from planner.clock import FrozenClock
from planner.redis_server import RedisProcess, free_port

# Properties are about results, never speed: on a shared CI machine one slow example must
# not fail a property (Hypothesis' default deadline is 200 ms per example).
hypothesis_settings.register_profile("engagements", deadline=None)
hypothesis_settings.load_profile("engagements")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """A private redis-server (AOF on) on a free port, for the whole test session."""
    server = RedisProcess(data_dir=tmp_path_factory.mktemp("redis"), port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisProcess) -> Iterator[str]:
    """The URL of the session's server, emptied before each test."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=False)
    yield client
    client.close()


@pytest.fixture
def settings() -> Settings:
    """Seed defaults, independent of the developer's environment and .env file."""
    return Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20260209)


@pytest.fixture
def clock() -> FrozenClock:
    """Monday 2026-02-09 08:00 UTC, the seed's example week."""
    return FrozenClock(datetime(2026, 2, 9, 8, 0, tzinfo=UTC))


@pytest.fixture
def examples_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "examples"
