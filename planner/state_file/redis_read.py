"""Export's read: everything one account holds, as of one instant.

WATCH the keys every change of the account touches (the week's meta and day indexes, the
ledger, profiles, breaker, outbox, and the guard's hour zset, which every reservation and
release rewrites), read the indexes, then read every value inside one MULTI/EXEC. A
concurrent change aborts the EXEC and the read starts again, so an export is a snapshot.

Expiries are read as absolute epoch milliseconds of the Redis clock, rounded to whole
seconds: ``PEXPIRETIME`` (Redis >= 7) is exact, but older servers only offer ``TIME`` +
``PTTL``, which may read the clock a millisecond apart. Rounded, every server version gives
the same document, and a round trip is exact (the guard sets its TTLs in seconds anyway).

Reservations are strings (``<at_us> <day key> <week key>``); one still stored as a hash
``{at, day, week}`` by an older layout is read too (their types are read before the
transaction: the guard only ever creates strings, and deleting one touches the hour zset).
The document's ``guard.last`` is the hour zset's newest entry (there is no key of its own).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import redis

from planner import keys
from planner.ledger import LedgerEntry
from planner.profiles import Profile
from planner.store import CorruptState, SlotRecord, StoreError, WeekMeta, codec, week_codec
from planner.store.redis_common import MAX_WATCH_RETRIES, checked, text, translate, watch
from planner.store.redis_store import week_day_keys
from planner.weekly_plan import WeeklyPlan


@dataclass(frozen=True)
class Snapshot:
    """What an export reads; ``guard`` and ``breaker`` are shaped like the document's."""

    plan: WeeklyPlan | None
    plan_settings: dict[str, Any]
    ledger: dict[str, LedgerEntry]
    profiles: list[Profile]
    guard: dict[str, Any]
    breaker: dict[str, Any]
    outbox: list[str]


def fixed_keys(account: str) -> list[str]:
    """ledger, profiles, breaker, outbox, guard hour, guard trim mark."""
    return [
        keys.ledger(account),
        keys.profiles(account),
        keys.breaker(account),
        keys.outbox(account),
        keys.guard_hour(account),
        keys.guard_trimmed(account),
    ]


def scan_guard(client: redis.Redis, account: str) -> list[str]:
    """The day and week counters and the reservations of ``account``."""
    prefix = f"{keys.tag(account)}:guard:"
    found = {text(k) for k in client.scan_iter(match=prefix + "*", count=500)}
    return sorted(k for k in found if k.split(":")[-2] in ("day", "week", "res"))


def read_account(client: redis.Redis, account: str, week_start: date) -> Snapshot:
    """The snapshot of ``account`` with the week of ``week_start``."""
    meta_key = keys.week_meta(account, week_start)
    day_keys = week_day_keys(account, week_start)
    fixed = fixed_keys(account)
    absolute = int(str(client.info("server")["redis_version"]).split(".", 1)[0]) >= 7
    with translate(meta_key):
        for _ in range(MAX_WATCH_RETRIES):
            with client.pipeline(transaction=True) as pipe:
                watch(pipe, meta_key, *day_keys, *fixed)
                raw_meta = client.hgetall(meta_key)
                meta = week_codec.decode_meta(meta_key, raw_meta) if raw_meta else None
                indexed: list[week_codec.Indexed] = []
                if meta is not None:
                    zsets = [client.zrange(k, 0, -1, withscores=True) for k in day_keys]
                    indexed = week_codec.index_week(account, week_start, meta, day_keys, zsets)
                timed = [*fixed[4:], *scan_guard(client, account)]
                hashes = _hash_reservations(client, timed)
                names = [meta_key, *(i.slot_key for i in indexed), *fixed[:4], *timed, *timed]
                pipe.multi()
                pipe.time()
                for item in indexed:
                    pipe.hgetall(item.slot_key)
                for key in fixed[:3]:
                    pipe.hgetall(key)
                pipe.lrange(fixed[3], 0, -1)
                pipe.zrange(fixed[4], 0, -1, withscores=True)
                for key in timed[1:]:
                    pipe.hgetall(key) if key in hashes else pipe.get(key)
                for key in timed:
                    pipe.pexpiretime(key) if absolute else pipe.pttl(key)
                try:
                    got = checked(pipe.execute(raise_on_error=False), names)
                except redis.WatchError:
                    continue
            return _decode(
                account,
                meta_key=meta_key,
                meta=meta,
                indexed=indexed,
                timed=timed,
                got=got,
                absolute=absolute,
            )
    raise StoreError(f"{meta_key}: gave up after {MAX_WATCH_RETRIES} concurrent changes")


def _hash_reservations(client: redis.Redis, names: list[str]) -> set[str]:
    """The reservations among ``names`` stored as hashes (by an older layout)."""
    found = [k for k in names if ":guard:res:" in k]
    if not found:
        return set()
    pipe = client.pipeline(transaction=False)
    for key in found:
        pipe.type(key)
    return {k for k, kind in zip(found, pipe.execute(), strict=True) if text(kind) == "hash"}


def _decode(
    account: str,
    *,
    meta_key: str,
    meta: WeekMeta | None,
    indexed: list[week_codec.Indexed],
    timed: list[str],
    got: list[Any],
    absolute: bool,
) -> Snapshot:
    seconds, micros = got[0]
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    slots, rest = got[1 : 1 + len(indexed)], got[1 + len(indexed) :]
    plan = None
    if meta is not None:
        by_day: dict[date, list[SlotRecord]] = {}
        for day, record in week_codec.decode_indexed(account, indexed, slots):
            by_day.setdefault(day, []).append(record)
        plan = week_codec.assemble_plan(meta_key, meta, by_day)
    ledger_key, profiles_key, breaker_key = fixed_keys(account)[:3]
    ledger, profiles, breaker, outbox = rest[:4]
    values, ttls = rest[4 : 4 + len(timed)], rest[4 + len(timed) :]
    expiry: dict[str, int | None] = {}
    for key, ttl in zip(timed, ttls, strict=True):
        # -1: no expiry; -2: the key is gone (then its value is empty and never read)
        at_ms = int(ttl) + (0 if absolute else now_ms)
        expiry[key] = None if int(ttl) < 0 else round(at_ms / 1000) * 1000
    return Snapshot(
        plan=plan,
        plan_settings=meta.settings if meta else {},
        ledger=codec.decode_ledger(ledger_key, ledger),
        profiles=[_profile(profiles_key, f, v) for f, v in sorted(profiles.items())],
        guard=_guard(account, dict(zip(timed, values, strict=True)), expiry),
        breaker=_breaker(breaker_key, breaker),
        outbox=[text(item) for item in outbox],
    )


def _profile(key: str, field: bytes | str, value: bytes | str) -> Profile:
    try:
        return Profile.model_validate_json(value)
    except ValueError as exc:
        raise CorruptState(key, f"field {text(field)!r}: unreadable profile") from exc


def _integer(key: str, raw: Any) -> int:
    """A non-negative integer as the guard's Lua stores it (``%.17g``: plain digits)."""
    try:
        value = float(text(raw)) if isinstance(raw, bytes | str) else float(raw)
    except ValueError:
        raise CorruptState(key, f"not a number: {raw!r}") from None
    if not value.is_integer() or value < 0:
        raise CorruptState(key, f"not a non-negative integer: {raw!r}")
    return int(value)


def _guard(account: str, values: dict[str, Any], expiry: dict[str, int | None]) -> dict[str, Any]:
    hour_key, trim_key = fixed_keys(account)[4:]
    members = values.pop(hour_key)
    instants = [(text(m), _integer(hour_key, s)) for m, s in members]
    entries = [{"id": ident, "at_us": at_us} for ident, at_us in instants]
    hour_expiry, trim_expiry = expiry[hour_key], expiry[trim_key]
    newest = max((at_us for _, at_us in instants), default=None)
    raw = values.pop(trim_key)
    trimmed = None if raw is None else _integer(trim_key, raw)
    out: dict[str, Any] = {
        "hour": {"entries": entries, "expires_at_ms": hour_expiry} if entries else None,
        "days": {},
        "weeks": {},
        "last": None if newest is None else {"at_us": newest, "expires_at_ms": hour_expiry},
        "trimmed": None if trimmed is None else {"at_us": trimmed, "expires_at_ms": trim_expiry},
        "reservations": {},
    }
    for key, raw in values.items():
        if not raw:
            continue  # expired between the scan and the read
        kind, ident = key.split(":")[-2:]
        if kind == "res":
            out["reservations"][ident] = _reservation(account, key, ident, raw, expiry[key])
            continue
        when: date | str = ident
        if kind == "day":
            when = codec.field_date({"day": ident}, "day", key)
        make = keys.guard_day if kind == "day" else keys.guard_week
        if codec.canonical(key, make, account, when) != key:
            raise CorruptState(key, "is not a guard key of this account")
        out[f"{kind}s"][when] = {"count": _integer(key, raw), "expires_at_ms": expiry[key]}
    return out


def _reservation(
    account: str, key: str, ident: str, raw: Any, expires: int | None
) -> dict[str, Any]:
    if isinstance(raw, dict):  # a hash, as an older layout stored reservations
        fields = codec.text_hash(raw, key)
        codec.require(fields, ("at", "day", "week"), key)
    else:
        parts = text(raw).split(" ")
        if len(parts) != 3:
            raise CorruptState(key, f"not a reservation '<at_us> <day key> <week key>': {raw!r}")
        fields = dict(zip(("at", "day", "week"), parts, strict=True))
    day = codec.field_date({"day": fields["day"].rsplit(":", 1)[-1]}, "day", key)
    week = fields["week"].rsplit(":", 1)[-1]
    if (
        key != keys.guard_reservation(account, ident)
        or fields["day"] != keys.guard_day(account, day)
        or fields["week"] != codec.canonical(key, keys.guard_week, account, week)
    ):
        raise CorruptState(key, "names keys that are not this account's guard keys")
    at_us = _integer(key, fields["at"])
    return {"at_us": at_us, "day": day, "week": week, "expires_at_ms": expires}


def _breaker(key: str, raw: Any) -> dict[str, Any]:
    fields = codec.text_hash(raw, key)
    extra = sorted(set(fields) - {"failures", "paused_day"})
    if extra:
        raise CorruptState(key, f"unexpected field {extra[0]!r}")
    out: dict[str, Any] = {}
    if "failures" in fields:
        out["failures"] = _integer(key, fields["failures"])
    if fields.get("paused_day"):
        out["paused_day"] = codec.field_date(fields, "paused_day", key)
    return out
