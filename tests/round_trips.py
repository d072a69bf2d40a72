"""Counting round trips: a client whose connections count the requests they send.

A request is one ``send_packed_command``: a single command, or a whole pipeline. This
counts what reaches the socket, whichever path in redis-py (or ours, ``planner.lua.call``)
built it, except the handshake of a new connection.
"""

from __future__ import annotations

from typing import Any, ClassVar

import redis

HANDSHAKE = frozenset({b"HELLO", b"CLIENT", b"AUTH", b"SELECT"})
"""What redis-py sends when it opens a connection: once per connection, not per call."""


class CountingConnection(redis.Connection):
    sent: ClassVar[list[bytes]] = []  # each client's own subclass has its own list

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        first = command if isinstance(command, bytes) else b"".join(command[:1])
        name = _name(first)
        if name not in HANDSHAKE:
            type(self).sent.append(name)
        super().send_packed_command(command, check_health)


def _name(packed: bytes) -> bytes:
    """The command name of a packed request (its first bulk string)."""
    parts = packed.split(b"\r\n")
    return parts[2].upper() if len(parts) > 2 else packed


def counting_client(url: str) -> tuple[redis.Redis, list[bytes]]:
    """A client on ``url`` and the list its requests are recorded in (command names)."""
    sent: list[bytes] = []
    connection_class = type("Counting", (CountingConnection,), {"sent": sent})
    kwargs = redis.connection.parse_url(url)
    pool = redis.ConnectionPool(connection_class=connection_class, **kwargs)
    return redis.Redis(connection_pool=pool), sent
