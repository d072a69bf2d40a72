"""One clock for every host: the Redis server's ``TIME``, optionally sped up for demos.

Workers on several hosts must agree on "now" for the caps and the lateness checks, so the
shell reads time from Redis, never from the local host. ``demo`` compresses a week into
about a minute by storing a linear map in ``eng:clock`` (real origin, virtual origin,
speed); every process that reads the clock through this module sees the same virtual
time, and delayed jobs are scheduled at the matching real instants.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis

from planner import keys
from planner.clock import ensure_aware_utc
from planner.store.redis_common import text


@dataclass(frozen=True)
class TimeMap:
    """virtual = virtual_origin + (real - real_origin) * speed."""

    real_origin: datetime
    virtual_origin: datetime
    speed: float

    def virtual(self, real: datetime) -> datetime:
        return self.virtual_origin + (real - self.real_origin) * self.speed

    def real(self, virtual: datetime) -> datetime:
        return self.real_origin + (virtual - self.virtual_origin) / self.speed


IDENTITY = None


def from_time_reply(reply: tuple[int, int]) -> datetime:
    """The instant of a Redis ``TIME`` reply (seconds, microseconds)."""
    seconds, micros = reply
    return datetime.fromtimestamp(seconds, tz=UTC) + timedelta(microseconds=micros)


def parse_time_map(raw: Mapping[bytes | str, bytes | str]) -> TimeMap | None:
    """The map stored in ``eng:clock`` (None: real time); ValueError naming the key."""
    if not raw:
        return IDENTITY
    fields = {text(k): text(v) for k, v in raw.items()}
    try:
        return TimeMap(
            real_origin=datetime.fromisoformat(fields["real_origin"]),
            virtual_origin=datetime.fromisoformat(fields["virtual_origin"]),
            speed=float(fields["speed"]),
        )
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{keys.clock()}: unreadable time map {fields!r}") from exc


class ServerClock:
    """A ``Clock`` reading Redis ``TIME`` (and the demo time map, if one is installed)."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    def real_now(self) -> datetime:
        return from_time_reply(self._client.time())

    def time_map(self) -> TimeMap | None:
        return parse_time_map(self._client.hgetall(keys.clock()))

    def read(self) -> tuple[datetime, TimeMap | None]:
        """Redis TIME and the time map in one round trip."""
        pipe = self._client.pipeline(transaction=False)
        pipe.time()
        pipe.hgetall(keys.clock())
        reply, raw = pipe.execute()
        return from_time_reply(reply), parse_time_map(raw)

    def __call__(self) -> datetime:
        real = self.real_now()
        mapping = self.time_map()
        return real if mapping is None else mapping.virtual(real)

    def to_real(self, virtual: datetime) -> datetime:
        """The real instant at which ``virtual`` happens (for scheduling delayed jobs)."""
        mapping = self.time_map()
        virtual = ensure_aware_utc(virtual, what="instant")
        return virtual if mapping is None else mapping.real(virtual)

    def speed(self) -> float:
        mapping = self.time_map()
        return 1.0 if mapping is None else mapping.speed

    def install(self, virtual_origin: datetime, speed: float) -> TimeMap:
        """Start compressed time: from now on, ``virtual_origin`` passes at ``speed``."""
        if speed <= 0:
            raise ValueError(f"clock speed must be positive, got {speed}")
        mapping = TimeMap(self.real_now(), ensure_aware_utc(virtual_origin), speed)
        self._client.hset(
            keys.clock(),
            mapping={
                "real_origin": mapping.real_origin.isoformat(),
                "virtual_origin": mapping.virtual_origin.isoformat(),
                "speed": repr(speed),
            },
        )
        return mapping

    def uninstall(self) -> None:
        self._client.delete(keys.clock())
