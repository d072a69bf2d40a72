"""One clock for every host: the Redis server's ``TIME``, optionally sped up for demos.

Workers on several hosts must agree on "now" for the caps and the lateness checks, so the
shell reads time from Redis, never from the local host. ``demo`` compresses a week into
about a minute by storing a linear map in the account's ``eng:{<account>}:clock`` (real
origin, virtual origin, speed); every process that reads the account's clock through this
module sees the same virtual time, and delayed jobs are scheduled at the matching real
instants. The map is stored per account so that the claim script
(``planner/lua/slot_run.lua``), which reads it together with the account's other keys,
stays valid on Redis Cluster; :func:`install` writes one map to several accounts at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis

from planner import keys
from planner.clock import ensure_aware_utc, to_us
from planner.store.redis_common import as_fields, text


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


def parse_time_map(raw: Mapping[bytes | str, bytes | str], key: str) -> TimeMap | None:
    """The map stored in ``key`` (None: real time); ValueError naming the key."""
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
        raise ValueError(f"{key}: unreadable time map {fields!r}") from exc


def map_fields(mapping: TimeMap) -> dict[str, str]:
    """The hash fields of a stored map: ISO instants for people and Python, the same
    instants as integer epoch microseconds for the claim script (Lua parses no dates)."""
    return {
        "real_origin": mapping.real_origin.isoformat(),
        "virtual_origin": mapping.virtual_origin.isoformat(),
        "speed": repr(mapping.speed),
        "real_origin_us": str(to_us(mapping.real_origin)),
        "virtual_origin_us": str(to_us(mapping.virtual_origin)),
    }


def install(
    client: redis.Redis, accounts: Iterable[str], virtual_origin: datetime, speed: float
) -> TimeMap:
    """Start compressed time for ``accounts``: from now on (Redis ``TIME``),
    ``virtual_origin`` passes at ``speed``. One map, written to every account atomically."""
    if speed <= 0:
        raise ValueError(f"clock speed must be positive, got {speed}")
    names = [keys.clock(account) for account in accounts]
    mapping = TimeMap(from_time_reply(client.time()), ensure_aware_utc(virtual_origin), speed)
    fields = map_fields(mapping)
    pipe = client.pipeline(transaction=True)
    for name in names:
        pipe.delete(name)
        pipe.hset(name, mapping=as_fields(fields))
    pipe.execute()
    return mapping


class ServerClock:
    """The ``Clock`` of one account: Redis ``TIME``, through the account's demo time map
    if one is installed."""

    def __init__(self, client: redis.Redis, account: str) -> None:
        self._client = client
        self.account = account
        self.key = keys.clock(account)

    def real_now(self) -> datetime:
        return from_time_reply(self._client.time())

    def time_map(self) -> TimeMap | None:
        return parse_time_map(self._client.hgetall(self.key), self.key)

    def read(self) -> tuple[datetime, TimeMap | None]:
        """Redis TIME and the time map in one round trip."""
        pipe = self._client.pipeline(transaction=False)
        pipe.time()
        pipe.hgetall(self.key)
        reply, raw = pipe.execute()
        return from_time_reply(reply), parse_time_map(raw, self.key)

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
        """Start compressed time for this account (see :func:`install`)."""
        return install(self._client, [self.account], virtual_origin, speed)

    def uninstall(self) -> None:
        uninstall(self._client, [self.account])


def uninstall(client: redis.Redis, accounts: Iterable[str]) -> None:
    """Back to real time for ``accounts``."""
    names = [keys.clock(account) for account in accounts]
    if names:
        client.delete(*names)
