"""The plan store on Redis: the source of truth (layout in :mod:`planner.keys`).

Multi-key writes are MULTI/EXEC transactions guarded by WATCH (week save, replace, delete)
or one Lua script (slot transitions), so a reader never sees half a write. Multi-key reads
follow the same pattern: WATCH the index keys, read them, then read the slots inside
MULTI; a concurrent change of an index aborts the EXEC and the read starts again.

redis-py errors are translated here: connection problems to :class:`StoreUnavailable`,
``WRONGTYPE`` replies to :class:`CorruptState` naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import redis
from redis.client import Pipeline

from planner import keys
from planner.ledger import LedgerEntry
from planner.store import codec, week_codec
from planner.store.base import (
    CorruptState,
    PlanStore,
    SlotNotFound,
    SlotRecord,
    SlotStateError,
    StoreError,
    WeekExists,
    WeekMeta,
)
from planner.store.redis_common import MAX_WATCH_RETRIES, as_fields, checked, translate, watch
from planner.store.redis_slots import RedisSlotOps
from planner.weekly_plan import ScheduledEngagement, Status, WeeklyPlan


def week_day_keys(account: str, week_start: date) -> list[str]:
    return [keys.day_slots(account, week_start + timedelta(days=i)) for i in range(7)]


class RedisPlanStore(RedisSlotOps):
    """:class:`planner.store.base.PlanStore` on a redis-py client (built by the caller)."""

    def __init__(self, client: redis.Redis) -> None:
        super().__init__(client)

    # ---- weeks -----------------------------------------------------------------------

    def save_week(
        self,
        plan: WeeklyPlan,
        *,
        replace: bool = False,
        settings_snapshot: Mapping[str, Any] | None = None,
    ) -> None:
        acct, start = plan.account, plan.week_start
        meta_key = keys.week_meta(acct, start)
        # Encode everything before touching Redis: a bad plan is refused with no write.
        meta = week_codec.encode_meta(plan, settings_snapshot)
        slots: list[tuple[str, dict[str, str], str, float]] = []
        for _, day in sorted(plan.days.items()):
            for e in day.engagements:
                slot_key = keys.slot(acct, e.slot_id)
                data = codec.encode_slot(acct, start, day.date, e)
                slots.append(
                    (slot_key, data, keys.day_slots(acct, day.date), e.scheduled_at.timestamp())
                )
        if len({s[0] for s in slots}) != len(slots):
            raise ValueError(f"plan {plan.label} of {acct!r} has duplicate slot ids")

        def write(pipe: Pipeline, old_slots: list[str], exists: bool) -> None:
            if exists and not replace:
                raise WeekExists(meta_key)
            pipe.multi()
            pipe.delete(meta_key, *week_day_keys(acct, start), *old_slots, *(s[0] for s in slots))
            pipe.hset(meta_key, mapping=as_fields(meta))
            for slot_key, data, day_key, instant in slots:
                pipe.hset(slot_key, mapping=as_fields(data))
                pipe.zadd(day_key, {data["slot_id"]: instant})
            pipe.zadd(keys.weeks(acct), {start.isoformat(): start.toordinal()})

        self._rewrite_week(acct, start, write, extra_watch=[s[0] for s in slots])

    def delete_week(self, account: str, week_start: date) -> bool:
        meta_key = keys.week_meta(account, week_start)
        existed: list[bool] = []

        def write(pipe: Pipeline, old_slots: list[str], exists: bool) -> None:
            existed.append(exists)
            pipe.multi()
            pipe.delete(meta_key, *week_day_keys(account, week_start), *old_slots)
            pipe.zrem(keys.weeks(account), week_start.isoformat())

        self._rewrite_week(account, week_start, write, extra_watch=[])
        return existed[-1]

    def _rewrite_week(
        self,
        account: str,
        week_start: date,
        write: Any,
        extra_watch: list[str],
    ) -> None:
        """WATCH the week, read its slot ids, refuse if one is claimed, run ``write``."""
        meta_key = keys.week_meta(account, week_start)
        day_keys = week_day_keys(account, week_start)
        with translate(meta_key):
            for _ in range(MAX_WATCH_RETRIES):
                with self._client.pipeline(transaction=True) as pipe:
                    try:
                        watch(pipe, meta_key, *day_keys)
                        # Read on another connection: anything changed after WATCH aborts EXEC.
                        batch = self._client.pipeline(transaction=False)
                        batch.exists(meta_key)
                        for day_key in day_keys:
                            batch.zrange(day_key, 0, -1)
                        got = checked(batch.execute(raise_on_error=False), [meta_key, *day_keys])
                        old_ids = [
                            codec.text(m, k)
                            for k, ms in zip(day_keys, got[1:], strict=True)
                            for m in ms
                        ]
                        old_slots = [keys.slot(account, i) for i in old_ids]
                        if old_slots or extra_watch:
                            watch(pipe, meta_key, *day_keys, *old_slots, *extra_watch)
                        self._refuse_claimed(old_slots)
                        write(pipe, old_slots, bool(got[0]))
                        pipe.execute()
                        return
                    except redis.WatchError:
                        continue
        raise StoreError(f"{meta_key}: gave up after {MAX_WATCH_RETRIES} concurrent changes")

    def _refuse_claimed(self, slot_keys: list[str]) -> None:
        if not slot_keys:
            return
        batch = self._client.pipeline(transaction=False)
        for slot_key in slot_keys:
            batch.hget(slot_key, "status")
        for slot_key, status in zip(
            slot_keys, checked(batch.execute(False), slot_keys), strict=True
        ):
            if status is not None and codec.text(status, slot_key) == Status.CLAIMED.value:
                raise SlotStateError(slot_key, Status.PENDING, Status.CLAIMED.value)

    def week_meta(self, account: str, week_start: date) -> WeekMeta | None:
        meta_key = keys.week_meta(account, week_start)
        with translate(meta_key):
            raw = self._client.hgetall(meta_key)
        return week_codec.decode_meta(meta_key, raw) if raw else None

    def load_week(self, account: str, week_start: date) -> WeeklyPlan | None:
        meta_key = keys.week_meta(account, week_start)
        day_keys = week_day_keys(account, week_start)
        with translate(meta_key):
            for _ in range(MAX_WATCH_RETRIES):
                with self._client.pipeline(transaction=True) as pipe:
                    watch(pipe, meta_key, *day_keys)
                    batch = self._client.pipeline(transaction=False)
                    batch.hgetall(meta_key)
                    for day_key in day_keys:
                        batch.zrange(day_key, 0, -1, withscores=True)
                    got = checked(batch.execute(raise_on_error=False), [meta_key, *day_keys])
                    if not got[0]:
                        return None
                    meta = week_codec.decode_meta(meta_key, got[0])
                    indexed = week_codec.index_week(account, week_start, meta, day_keys, got[1:])
                    try:
                        records = self._read_slots(pipe, account, indexed)
                    except redis.WatchError:
                        continue
                by_day: dict[date, list[SlotRecord]] = {}
                for day, record in records:
                    by_day.setdefault(day, []).append(record)
                return week_codec.assemble_plan(meta_key, meta, by_day)
        raise StoreError(f"{meta_key}: gave up after {MAX_WATCH_RETRIES} concurrent changes")

    def list_weeks(self, account: str) -> list[date]:
        key = keys.weeks(account)
        with translate(key):
            members: list[Any] = self._client.zrange(key, 0, -1)
        try:
            return sorted(date.fromisoformat(codec.text(m, key)) for m in members)
        except ValueError as exc:
            raise CorruptState(key, f"member is not a date: {exc}") from exc

    # ---- slots and days --------------------------------------------------------------

    def load_slot(self, account: str, slot_id: str) -> SlotRecord:
        slot_key = keys.slot(account, slot_id)
        with translate(slot_key):
            raw = self._client.hgetall(slot_key)
        if not raw:
            raise SlotNotFound(slot_key)
        return codec.decode_slot(slot_key, raw)

    def slots_of_day(self, account: str, day: date) -> list[ScheduledEngagement]:
        day_key = keys.day_slots(account, day)
        with translate(day_key):
            for _ in range(MAX_WATCH_RETRIES):
                with self._client.pipeline(transaction=True) as pipe:
                    watch(pipe, day_key)
                    members: list[Any] = self._client.zrange(day_key, 0, -1, withscores=True)
                    indexed = week_codec.index_day(account, day, day_key, members)
                    try:
                        records = self._read_slots(pipe, account, indexed)
                    except redis.WatchError:
                        continue
                return [r.engagement for _, r in records]
        raise StoreError(f"{day_key}: gave up after {MAX_WATCH_RETRIES} concurrent changes")

    def _read_slots(
        self, pipe: Pipeline, account: str, indexed: list[week_codec.Indexed]
    ) -> list[tuple[date, SlotRecord]]:
        """HGETALL every indexed slot inside MULTI (WatchError if an index changed)."""
        pipe.multi()
        for item in indexed:
            pipe.hgetall(item.slot_key)
        raws = checked(pipe.execute(raise_on_error=False), [i.slot_key for i in indexed])
        return week_codec.decode_indexed(account, indexed, raws)

    # ---- ledger ----------------------------------------------------------------------

    def get_ledger(self, account: str) -> dict[str, LedgerEntry]:
        key = keys.ledger(account)
        with translate(key):
            raw = self._client.hgetall(key)
        return codec.decode_ledger(key, raw)

    def put_ledger_entry(
        self,
        account: str,
        profile_key: str,
        entry: LedgerEntry,
        *,
        pipeline: Pipeline | None = None,
    ) -> None:
        """Write one entry; with ``pipeline`` it is only queued there (the caller executes)."""
        key = keys.ledger(account)
        value = codec.encode_ledger(entry)
        if pipeline is not None:
            pipeline.hset(key, profile_key, value)
            return
        with translate(key):
            self._client.hset(key, profile_key, value)


def _conforms(store: RedisPlanStore) -> PlanStore:  # mypy checks the protocol here
    return store
