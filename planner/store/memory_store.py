"""The in-memory twin of the Redis store, for the pure paths and the simulations.

It keeps the same key space, with the same encoded values, as the Redis store (hashes in
:attr:`MemoryPlanStore.hashes`, sorted sets in :attr:`MemoryPlanStore.zsets`) and decodes
them with the same codec, so it refuses the same corrupt data. One lock makes every
operation atomic, standing in for MULTI/EXEC and the Lua scripts.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from planner import keys
from planner.clock import to_us
from planner.ledger import LedgerEntry
from planner.store import codec, week_codec
from planner.store.base import (
    BeginResult,
    Begun,
    CorruptState,
    EndResult,
    PlanStore,
    RunClaim,
    RunOutcome,
    SlotBinding,
    SlotNotFound,
    SlotRecord,
    SlotStateError,
    WeekExists,
    WeekMeta,
    WeekNotFound,
    check_finish_status,
    check_transition,
)
from planner.store.redis_slots import begin_args, ends_run
from planner.weekly_plan import TERMINAL, ScheduledEngagement, Status, WeeklyPlan


class MemoryPlanStore:
    """:class:`planner.store.base.PlanStore` in process memory."""

    def __init__(self) -> None:
        self.hashes: dict[str, dict[str, str]] = {}
        self.zsets: dict[str, dict[str, float]] = {}
        self.lists: dict[str, list[str]] = {}
        self._lock = threading.RLock()

    # ---- raw helpers ---------------------------------------------------------------

    def _zrange(self, key: str) -> list[tuple[str, float]]:
        """Members by score, ties by member: the order ZRANGE gives."""
        return sorted(self.zsets.get(key, {}).items(), key=lambda item: (item[1], item[0]))

    def _day_keys(self, account: str, week_start: date) -> list[str]:
        return [keys.day_slots(account, week_start + timedelta(days=i)) for i in range(7)]

    def _old_slots(self, account: str, week_start: date) -> list[str]:
        """Slot keys the week indexes now; SlotStateError if one is claimed (in flight)."""
        out = []
        for day_key in self._day_keys(account, week_start):
            for slot_id in self.zsets.get(day_key, {}):
                slot_key = keys.slot(account, slot_id)
                if self.hashes.get(slot_key, {}).get("status") == Status.CLAIMED.value:
                    raise SlotStateError(slot_key, Status.PENDING, Status.CLAIMED.value)
                out.append(slot_key)
        return out

    def _drop(self, *names: str) -> None:
        for name in names:
            self.hashes.pop(name, None)
            self.zsets.pop(name, None)
            self.lists.pop(name, None)

    def _end_inflight(self, account: str, slot_id: str, field: str | None = None) -> None:
        """Remove the in-flight entries naming ``slot_id`` (only ``field``'s, if given)."""
        key = keys.inflight(account)
        found = self.hashes.get(key, {})
        prefix = f"{slot_id} "
        for name in [field] if field is not None else list(found):
            if found.get(name, "").startswith(prefix):
                del found[name]
        if key in self.hashes and not found:
            del self.hashes[key]

    def _slot(self, account: str, slot_id: str) -> tuple[str, dict[str, str]]:
        slot_key = keys.slot(account, slot_id)
        found = self.hashes.get(slot_key)
        if found is None:
            raise SlotNotFound(slot_key)
        return slot_key, found

    # ---- weeks ---------------------------------------------------------------------

    def save_week(
        self,
        plan: WeeklyPlan,
        *,
        replace: bool = False,
        settings_snapshot: Mapping[str, Any] | None = None,
    ) -> None:
        acct, start = plan.account, plan.week_start
        meta_key = keys.week_meta(acct, start)
        meta = week_codec.encode_meta(plan, settings_snapshot)
        slots = [
            (keys.slot(acct, e.slot_id), codec.encode_slot(acct, start, day.date, e), day.date)
            for _, day in sorted(plan.days.items())
            for e in day.engagements
        ]
        if len({s[0] for s in slots}) != len(slots):
            raise ValueError(f"plan {plan.label} of {acct!r} has duplicate slot ids")
        with self._lock:
            if meta_key in self.hashes and not replace:
                raise WeekExists(meta_key)
            old = self._old_slots(acct, start)
            self._drop(meta_key, *self._day_keys(acct, start), *old, *(s[0] for s in slots))
            self.hashes[meta_key] = meta
            for slot_key, data, day in slots:
                self.hashes[slot_key] = data
                day_key = keys.day_slots(acct, day)
                instant = datetime.fromisoformat(data["scheduled_at"]).timestamp()
                self.zsets.setdefault(day_key, {})[data["slot_id"]] = instant
            self.zsets.setdefault(keys.weeks(acct), {})[start.isoformat()] = start.toordinal()

    def delete_week(self, account: str, week_start: date) -> bool:
        meta_key = keys.week_meta(account, week_start)
        with self._lock:
            existed = meta_key in self.hashes
            old = self._old_slots(account, week_start)
            self._drop(meta_key, *self._day_keys(account, week_start), *old)
            weeks = self.zsets.get(keys.weeks(account), {})
            weeks.pop(week_start.isoformat(), None)
            if not weeks:
                self.zsets.pop(keys.weeks(account), None)
            return existed

    def week_meta(self, account: str, week_start: date) -> WeekMeta | None:
        meta_key = keys.week_meta(account, week_start)
        with self._lock:
            raw = self.hashes.get(meta_key)
            return week_codec.decode_meta(meta_key, raw) if raw else None

    def load_week(self, account: str, week_start: date) -> WeeklyPlan | None:
        meta_key = keys.week_meta(account, week_start)
        with self._lock:
            raw = self.hashes.get(meta_key)
            if not raw:
                return None
            meta = week_codec.decode_meta(meta_key, raw)
            day_keys = self._day_keys(account, week_start)
            zsets = [self._zrange(k) for k in day_keys]
            indexed = week_codec.index_week(account, week_start, meta, day_keys, zsets)
            raws = [self.hashes.get(i.slot_key, {}) for i in indexed]
            records = week_codec.decode_indexed(account, indexed, raws)
        by_day: dict[date, list[SlotRecord]] = {}
        for day, record in records:
            by_day.setdefault(day, []).append(record)
        return week_codec.assemble_plan(meta_key, meta, by_day)

    def list_weeks(self, account: str) -> list[date]:
        key = keys.weeks(account)
        with self._lock:
            members = list(self.zsets.get(key, {}))
        try:
            return sorted(date.fromisoformat(m) for m in members)
        except ValueError as exc:
            raise CorruptState(key, f"member is not a date: {exc}") from exc

    # ---- slots and days ------------------------------------------------------------

    def load_slot(self, account: str, slot_id: str) -> SlotRecord:
        with self._lock:
            slot_key, raw = self._slot(account, slot_id)
            return codec.decode_slot(slot_key, dict(raw))

    def slots_of_day(self, account: str, day: date) -> list[ScheduledEngagement]:
        day_key = keys.day_slots(account, day)
        with self._lock:
            indexed = week_codec.index_day(account, day, day_key, self._zrange(day_key))
            raws = [self.hashes.get(i.slot_key, {}) for i in indexed]
            return [r.engagement for _, r in week_codec.decode_indexed(account, indexed, raws)]

    def claim_slot(self, account: str, slot_id: str, now: datetime) -> bool:
        claimed_at = codec.iso(now)
        with self._lock:
            slot_key, raw = self._slot(account, slot_id)
            if raw.get("status") != Status.PENDING.value:
                return False
            attempts = _attempts(slot_key, raw)
            raw.update(
                status=Status.CLAIMED.value, claimed_at=claimed_at, attempts=str(attempts + 1)
            )
            return True

    def finish_slot(
        self,
        account: str,
        slot_id: str,
        status: Status,
        at: datetime,
        *,
        reason: str = "",
        ledger_key: str | None = None,
        ledger_entry: LedgerEntry | None = None,
    ) -> None:
        check_finish_status(status)
        if (ledger_key is None) != (ledger_entry is None):
            raise ValueError("finish_slot needs both ledger_key and ledger_entry, or neither")
        finished_at = codec.iso(at)
        with self._lock:
            slot_key, raw = self._slot(account, slot_id)
            if raw.get("status") != Status.CLAIMED.value:
                raise SlotStateError(slot_key, Status.CLAIMED, raw.get("status", ""))
            raw.update(status=status.value, finished_at=finished_at, reason=reason)
            if ledger_key is not None and ledger_entry is not None:
                ledger = self.hashes.setdefault(keys.ledger(account), {})
                ledger[ledger_key] = codec.encode_ledger(ledger_entry)

    def begin_run(self, account: str, slot_id: str, claim: RunClaim) -> BeginResult:
        # The same arguments the Lua script gets, read the same way.
        (claimed_at, sched, url, field, today, since, day, before, after, *_) = [
            str(a) for a in begin_args(slot_id, claim)
        ]
        ledger_key = keys.ledger(account)
        with self._lock:
            raw = self.hashes.get(keys.slot(account, slot_id))
            if raw is None:
                return BeginResult(Begun.NOT_FOUND)
            if raw.get("status") != Status.PENDING.value:
                return BeginResult(Begun.NOT_PENDING, raw.get("status", ""))
            if raw.get("scheduled_at") != sched or raw.get("linkedin_url") != url:
                return BeginResult(Begun.CHANGED)
            slot_key = keys.slot(account, slot_id)
            attempts = _attempts(slot_key, raw)
            if self.hashes.get(keys.breaker(account), {}).get("paused_day") == today:
                return BeginResult(Begun.PAUSED, today)
            entry_raw = self.hashes.get(ledger_key, {}).get(field)
            entry = None
            if entry_raw is not None:
                entry = codec.decode_ledger(ledger_key, {field: entry_raw})[field]
            if entry is not None and entry.last_done_at is not None:
                done = entry.last_done_at
                if f"{done:%Y-%m-%dT%H:%M:%S}" >= since:
                    return BeginResult(Begun.ENGAGED_RECENTLY, done.isoformat(), entry)
            inflight = self.hashes.setdefault(keys.inflight(account), {})
            holder = inflight.get(field)
            blocked = False
            if holder is not None:
                other, _, other_day = holder.partition(" ")
                blocked = other != slot_id and other_day in (day, before, after)
            raw.update(
                status=Status.CLAIMED.value, claimed_at=claimed_at, attempts=str(attempts + 1)
            )
            if blocked:
                if not inflight:
                    del self.hashes[keys.inflight(account)]
                return BeginResult(Begun.CLAIMED_IN_FLIGHT_ELSEWHERE, holder or "", entry)
            inflight[field] = f"{slot_id} {day}"
            return BeginResult(Begun.CLAIMED, "", entry)

    def end_run(self, account: str, slot_id: str, outcome: RunOutcome) -> EndResult:
        check_finish_status(outcome.status)
        with self._lock:
            breaker = self.hashes.get(keys.breaker(account), {})
            failures = breaker.get("failures")
            if failures is not None and not failures.lstrip("-").isdigit():
                raise CorruptState(keys.breaker(account), "failures is not an integer")
            ledger = self.hashes.setdefault(keys.ledger(account), {})
            ledger[outcome.profile_key] = codec.encode_ledger(outcome.ledger_entry)
            self._end_inflight(account, slot_id, outcome.profile_key)
            raw = self.hashes.get(keys.slot(account, slot_id))
            if raw is None:
                return EndResult(False, "")
            if raw.get("status") != Status.CLAIMED.value:
                return EndResult(False, raw.get("status", ""))
            finished_at = codec.iso(outcome.at)
            raw.update(status=outcome.status.value, finished_at=finished_at, reason=outcome.reason)
            breaker = self.hashes.setdefault(keys.breaker(account), {})
            tripped = False
            if outcome.status is Status.FAILED:
                count = int(breaker.get("failures", "0")) + 1
                breaker["failures"] = str(count)
                if count >= outcome.breaker_threshold:
                    breaker.update(paused_day=outcome.today.isoformat(), failures="0")
                    tripped = True
            else:
                breaker["failures"] = "0"
            if outcome.outbox_item:
                self.lists.setdefault(keys.outbox(account), []).append(outcome.outbox_item)
            return EndResult(True, Status.CLAIMED.value, tripped)

    def set_slot_status(
        self,
        account: str,
        slot_id: str,
        *,
        expected: Status,
        new: Status,
        at: datetime,
        reason: str = "",
    ) -> bool:
        check_transition(expected, new)
        finished_at = codec.iso(at)
        with self._lock:
            _, raw = self._slot(account, slot_id)
            if raw.get("status") != expected.value:
                return False
            raw.update(status=new.value, reason=reason)
            if new in TERMINAL:
                raw["finished_at"] = finished_at
            if new is Status.PENDING:
                raw["claimed_at"] = ""
            if ends_run(expected, new):
                self._end_inflight(account, slot_id)
            return True

    def reschedule_slot(
        self,
        account: str,
        slot_id: str,
        new_instant: datetime,
        scheduled_time: str | None = None,
        *,
        expected: Status = Status.PENDING,
    ) -> bool:
        with self._lock:
            slot_key, raw = self._slot(account, slot_id)
            day = date.fromisoformat(raw["date"])
            meta_key = keys.week_meta(account, date.fromisoformat(raw["week_start"]))
            tz_name = self.hashes.get(meta_key, {}).get("timezone")
            if tz_name is None:
                raise CorruptState(slot_key, f"its week {meta_key} has no timezone")
            hhmm = codec.reschedule_time(
                slot_key, new_instant, scheduled_time, tz_name=tz_name, day=day, expected=expected
            )
            if raw.get("status") != expected.value:
                return False
            self.zsets.setdefault(keys.day_slots(account, day), {})[slot_id] = (
                new_instant.timestamp()
            )
            raw.update(
                status=Status.PENDING.value,
                claimed_at="",
                scheduled_at=codec.iso(new_instant),
                at_us=str(to_us(new_instant)),
                scheduled_time=hhmm,
            )
            if expected is Status.CLAIMED:
                self._end_inflight(account, slot_id)
            return True

    def rebind_open_slots(
        self, account: str, week_start: date, assignments: Mapping[str, SlotBinding]
    ) -> list[str]:
        meta_key = keys.week_meta(account, week_start)
        encoded = {slot_id: codec.encode_binding(b) for slot_id, b in assignments.items()}
        slot_keys = {slot_id: keys.slot(account, slot_id) for slot_id in assignments}
        with self._lock:
            meta = self.hashes.get(meta_key)
            if meta is None:
                raise WeekNotFound(meta_key)
            try:
                revision = int(meta.get("revision", ""))
            except ValueError:
                raise CorruptState(meta_key, "field revision is not an integer") from None
            updated = []
            for slot_id, values in encoded.items():
                raw = self.hashes.get(slot_keys[slot_id], {})
                if raw.get("status") == "pending" and raw.get("week_start") == str(week_start):
                    raw.update(zip(codec.BINDING_FIELDS, values, strict=True))
                    updated.append(slot_id)
            if updated:
                meta["revision"] = str(revision + 1)
            return updated

    # ---- ledger --------------------------------------------------------------------

    def get_ledger(self, account: str) -> dict[str, LedgerEntry]:
        key = keys.ledger(account)
        with self._lock:
            return codec.decode_ledger(key, dict(self.hashes.get(key, {})))

    def put_ledger_entry(self, account: str, profile_key: str, entry: LedgerEntry) -> None:
        value = codec.encode_ledger(entry)
        with self._lock:
            self.hashes.setdefault(keys.ledger(account), {})[profile_key] = value


def _attempts(slot_key: str, raw: dict[str, str]) -> int:
    try:
        return int(raw.get("attempts", ""))
    except ValueError:
        raise CorruptState(slot_key, "field attempts is not an integer") from None


def _conforms(store: MemoryPlanStore) -> PlanStore:  # mypy checks the protocol here
    return store
