"""Error translation at the Redis boundary, shared by the Redis store modules."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import redis
from redis.client import Pipeline

from planner.store.base import CorruptState, StoreError, StoreUnavailable

MAX_WATCH_RETRIES = 50
"""Optimistic transactions retried this often before giving up (heavy contention)."""


@contextmanager
def translate(key: str) -> Iterator[None]:
    """Turn redis-py errors raised while working on ``key`` into store errors."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise StoreUnavailable(f"Redis unreachable while accessing {key}: {exc}") from exc
    except redis.ResponseError as exc:
        raise response_error(key, exc) from exc


def response_error(key: str, exc: redis.ResponseError) -> StoreError:
    """The store error for a Redis error reply about ``key``."""
    message = str(exc)
    # Errors raised inside a script arrive wrapped ("Error running script ...: WRONGTYPE").
    if "WRONGTYPE" in message:
        return CorruptState(key, "holds another Redis type (a foreign key layout?)")
    if message.startswith("CORRUPT "):
        return CorruptState(key, message.removeprefix("CORRUPT "))
    return StoreError(f"{key}: Redis refused the command: {message}")


def checked(results: Sequence[Any], names: Sequence[str]) -> list[Any]:
    """Pipeline results, raising the first error as a store error naming its key."""
    for value, key in zip(results, names, strict=True):
        if isinstance(value, redis.ResponseError):
            raise response_error(key, value)
        if isinstance(value, redis.RedisError):
            raise StoreError(f"{key}: {value}")
    return list(results)


def watch(pipe: Pipeline, *names: str) -> None:
    """WATCH ``names`` on ``pipe`` (redis-py leaves ``watch`` untyped)."""
    pipe.watch(*names)  # type: ignore[no-untyped-call]


def as_fields(data: dict[str, str]) -> dict[Any, Any]:
    """A str -> str mapping as redis-py's (invariant) ``hset(mapping=...)`` type wants it."""
    return dict(data)


def text(value: bytes | str) -> str:
    """A Redis reply as text (clients may or may not decode responses)."""
    return value.decode() if isinstance(value, bytes) else value
