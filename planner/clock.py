"""Injected time: every piece of the core takes a ``Clock`` instead of calling ``now()``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]
"""A callable returning the current instant as an aware UTC datetime."""


def system_clock() -> datetime:
    """The wall clock, aware UTC."""
    return datetime.now(UTC)


class FrozenClock:
    """A clock for tests and simulations: it only moves when told to."""

    def __init__(self, start: datetime) -> None:
        self._now = ensure_aware_utc(start, what="FrozenClock start")

    def __call__(self) -> datetime:
        return self._now

    def set(self, instant: datetime) -> None:
        self._now = ensure_aware_utc(instant, what="FrozenClock.set")

    def advance(self, delta: timedelta) -> None:
        self._now += delta


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_us(instant: datetime) -> int:
    """Epoch microseconds of an aware instant (exact integer arithmetic)."""
    return (ensure_aware_utc(instant) - _EPOCH) // _US


def from_us(epoch_us: int) -> datetime:
    """The aware UTC instant of epoch microseconds ``epoch_us``."""
    return _EPOCH + timedelta(microseconds=epoch_us)


def ensure_aware_utc(instant: datetime, *, what: str = "instant") -> datetime:
    """Return ``instant`` in UTC; refuse naive datetimes (their zone would be a guess)."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {instant.isoformat()}")
    return instant.astimezone(UTC)
