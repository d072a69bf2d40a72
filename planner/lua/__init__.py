"""Lua scripts shipped as package data, registered once per Redis client.

Each ``.lua`` file here starts with its contract (KEYS, ARGV with units, return value). Every
key comes in through KEYS (the Python side builds names with :mod:`planner.keys`), so the
scripts stay valid on Redis Cluster: all keys of one call share the account's hash tag.
"""

from __future__ import annotations

import threading
from functools import cache
from importlib import resources
from weakref import WeakKeyDictionary

import redis
from redis.commands.core import Script

_registered: WeakKeyDictionary[redis.Redis, dict[str, Script]] = WeakKeyDictionary()
_lock = threading.Lock()


@cache
def source(name: str) -> str:
    """The text of ``planner/lua/<name>.lua``."""
    return (resources.files("planner") / "lua" / f"{name}.lua").read_text(encoding="utf-8")


def script(client: redis.Redis, name: str) -> Script:
    """The registered script ``name`` for ``client`` (registered on first use only).

    redis-py's ``Script`` runs EVALSHA and reloads the source on NOSCRIPT, so a server
    restart (which empties the script cache) needs nothing from us.
    """
    with _lock:
        per_client = _registered.setdefault(client, {})
        found = per_client.get(name)
        if found is None:
            found = per_client[name] = client.register_script(source(name))
        return found
