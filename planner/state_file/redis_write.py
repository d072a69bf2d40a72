"""Import's write: one MULTI/EXEC, after checking what the account already holds.

The commands are built from validated data before Redis is touched; ``commit`` then
WATCHes the account's keys, refuses a conflict (nothing written), and runs every command
in one transaction. A key whose expiry has already passed is not written at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import redis
from redis.client import Pipeline

from planner import keys
from planner.ledger import LedgerEntry
from planner.profiles import Profile
from planner.state_file.redis_read import fixed_keys, scan_guard
from planner.store import StoreError, codec, week_codec
from planner.store.redis_common import MAX_WATCH_RETRIES, checked, text, translate, watch
from planner.store.redis_store import week_day_keys
from planner.weekly_plan import Status, WeeklyPlan

Command = tuple[Any, ...]


class ImportConflict(StoreError):
    """Raised when an import would overwrite state it may not replace; nothing was written."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(reason)
        self.where = where
        self.reason = reason


def account_commands(
    account: str,
    *,
    plan: WeeklyPlan | None,
    plan_settings: Mapping[str, Any],
    ledger: Mapping[str, LedgerEntry],
    profiles: Sequence[Profile],
    guard: Mapping[str, Any],
    breaker: Mapping[str, Any],
    outbox: Sequence[str],
    now_ms: int,
) -> tuple[list[Command], int]:
    """The commands that store this state, and how many expired guard keys were left out."""
    cmds: list[Command] = []
    if plan is not None:
        meta = week_codec.encode_meta(plan, plan_settings)
        cmds.append(("HSET", keys.week_meta(account, plan.week_start), *_flat(meta)))
        for day in plan.days.values():
            for e in day.engagements:
                data = codec.encode_slot(account, plan.week_start, day.date, e)
                cmds.append(("HSET", keys.slot(account, e.slot_id), *_flat(data)))
                score = repr(e.scheduled_at.timestamp())
                cmds.append(("ZADD", keys.day_slots(account, day.date), score, e.slot_id))
        start = plan.week_start
        cmds.append(("ZADD", keys.weeks(account), start.toordinal(), start.isoformat()))
    if ledger:
        pairs = {k: codec.encode_ledger(v) for k, v in ledger.items()}
        cmds.append(("HSET", keys.ledger(account), *_flat(pairs)))
    if profiles:
        pairs = {p.key: p.model_dump_json() for p in profiles}
        cmds.append(("HSET", keys.profiles(account), *_flat(pairs)))
    if breaker:
        fields = {k: v.isoformat() if isinstance(v, date) else str(v) for k, v in breaker.items()}
        cmds.append(("HSET", keys.breaker(account), *_flat(fields)))
    if outbox:
        cmds.append(("RPUSH", keys.outbox(account), *outbox))
    skipped = 0

    def timed(key: str, write: Command, expires: int | None) -> None:
        nonlocal skipped
        if expires is not None and expires <= now_ms:
            skipped += 1  # Redis would drop it at once; the guard counts nothing from it
            return
        cmds.append(write)
        if expires is not None:
            cmds.append(("PEXPIREAT", key, expires))

    hour = guard.get("hour")
    if hour and hour["entries"]:
        key = keys.guard_hour(account)
        scored = [x for e in hour["entries"] for x in (e["at_us"], e["id"])]
        timed(key, ("ZADD", key, *scored), hour["expires_at_ms"])
    # guard["last"] is the newest hour entry, not a key of its own (files written before
    # the guard dropped that key hold its value too): nothing to write.
    if guard.get("trimmed"):
        key = keys.guard_trimmed(account)
        timed(key, ("SET", key, guard["trimmed"]["at_us"]), guard["trimmed"]["expires_at_ms"])
    for day_, c in guard.get("days", {}).items():
        key = keys.guard_day(account, day_)
        timed(key, ("SET", key, c["count"]), c["expires_at_ms"])
    for label, c in guard.get("weeks", {}).items():
        key = keys.guard_week(account, label)
        timed(key, ("SET", key, c["count"]), c["expires_at_ms"])
    for rid, r in guard.get("reservations", {}).items():
        # a string, as the guard's scripts write it (older layouts wrote a hash)
        key = keys.guard_reservation(account, rid)
        day_key, week_key = keys.guard_day(account, r["day"]), keys.guard_week(account, r["week"])
        timed(key, ("SET", key, f"{r['at_us']} {day_key} {week_key}"), r["expires_at_ms"])
    return cmds, skipped


def _flat(mapping: Mapping[str, str]) -> list[str]:
    return [x for pair in mapping.items() for x in pair]


def _send(pipe: Pipeline, command: Command) -> None:
    pipe.execute_command(*command)  # type: ignore[no-untyped-call]  # redis-py leaves it untyped


def commit(
    client: redis.Redis,
    account: str,
    week_start: date | None,
    commands: Sequence[Command],
    *,
    replace: bool,
) -> None:
    """Run ``commands`` in one transaction; ImportConflict (nothing written) if the account
    holds state and not ``replace``, or if the week to replace has a slot in flight."""
    fixed = fixed_keys(account)
    week_keys: list[str] = []
    if week_start is not None:
        week_keys = [keys.week_meta(account, week_start), *week_day_keys(account, week_start)]
    with translate(fixed[0]):
        for _ in range(MAX_WATCH_RETRIES):
            with client.pipeline(transaction=True) as pipe:
                watch(pipe, *week_keys, *fixed)
                guard_keys = scan_guard(client, account)
                old_slots = _old_slots(client, account, week_keys)
                if old_slots:
                    watch(pipe, *old_slots)
                _refuse(client, account, week_keys=week_keys, held=guard_keys, replace=replace)
                _refuse_in_flight(client, old_slots)
                pipe.multi()
                if replace:
                    pipe.delete(*week_keys, *old_slots, *fixed, *guard_keys)
                for command in commands:
                    _send(pipe, command)
                try:
                    replies = pipe.execute(raise_on_error=False)
                    checked(replies, [fixed[0]] * len(replies))
                except redis.WatchError:
                    continue
                return
    raise StoreError(f"{fixed[0]}: gave up after {MAX_WATCH_RETRIES} concurrent changes")


def _old_slots(client: redis.Redis, account: str, week_keys: list[str]) -> list[str]:
    ids: list[str] = []
    for day_key in week_keys[1:]:
        members: list[Any] = client.zrange(day_key, 0, -1)
        ids += [text(m) for m in members]
    return [keys.slot(account, i) for i in ids]


def _refuse(
    client: redis.Redis, account: str, *, week_keys: list[str], held: list[str], replace: bool
) -> None:
    if replace:
        return
    if week_keys and client.exists(week_keys[0]):
        raise ImportConflict("$.plan", f"{week_keys[0]} is already stored; --replace overwrites it")
    held = [k for k in fixed_keys(account) if client.exists(k)] + held
    if held:
        shown = ", ".join(held[:3]) + (", ..." if len(held) > 3 else "")
        raise ImportConflict(
            "$", f"account {account!r} already holds state ({shown}); --replace overwrites it"
        )


def _refuse_in_flight(client: redis.Redis, slot_keys: list[str]) -> None:
    for key in slot_keys:
        status = client.hget(key, "status")
        if status is not None and text(status) == Status.CLAIMED.value:
            raise ImportConflict(
                "$.plan", f"{key} is in flight (claimed); import once it has finished"
            )
