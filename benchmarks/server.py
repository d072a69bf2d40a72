"""A private redis-server for a benchmark run (never the machine's own 6379)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from planner.redis_server import RedisProcess, free_port


@contextmanager
def private_redis() -> Iterator[RedisProcess]:
    """A redis-server on a free localhost port, configured as production Redis should be
    (AOF ``appendfsync everysec``, ``noeviction``), in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as tmp:
        server = RedisProcess(data_dir=Path(tmp), port=free_port())
        server.start()
        try:
            yield server
        finally:
            server.stop()
