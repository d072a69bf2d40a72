"""One slot's run, as DESIGN.md "Flow" has it: claim, check the time, reserve, act, record.

Order matters. The claim comes first (pending -> claimed, atomically), so whatever
duplicates, retries or redeliveries happen, one process at most goes on (I3). Lateness and
operating hours are checked next (I4), then the guard reserves the action in every window
at once (I1, I2). Only then is the handler called. Expected outcomes never raise: a job
that raised would land in RQ's failed registry and invite a manual retry.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

from planner import breaker, outbox
from planner.enqueue import slot_job_id
from planner.guard import Guard
from planner.ledger import LedgerEntry, record_outcome
from planner.profiles import profile_key
from planner.service import Live, schedule_slot
from planner.sources.base import OutcomeUpdate
from planner.store import SlotNotFound, SlotRecord, SlotStateError
from planner.timing import day_window, local_hhmm, retime
from planner.weekly_plan import Status
from worker.handlers import EngagementRequest, Handler, call_handler

log = logging.getLogger(__name__)

RETRY_JITTER_S = 90.0  # spread re-tried slots so two refused jobs do not collide again
LEAD = timedelta(seconds=30)  # a re-timed slot is never placed closer than this to now
MAX_EARLY_WAIT_S = 2.0  # real seconds a job may be early and still wait for its instant


@dataclass(frozen=True)
class RunResult:
    slot_id: str
    status: str  # a final Status value, or "rescheduled" / "ignored"
    detail: str = ""


def execute_slot(
    live: Live,
    handler: Handler,
    rng: np.random.Generator,
    slot_id: str,
    *,
    now: datetime | None = None,
) -> RunResult:
    account, settings = live.account, live.settings
    now = now or live.clock()
    try:
        record = live.store.load_slot(account, slot_id)
    except SlotNotFound:
        return _ignored(slot_id, "no such slot (its week was replaced or deleted)")
    slot = record.engagement
    if slot.status is not Status.PENDING:
        return _ignored(slot_id, f"slot is {slot.status.value}; nothing to do")
    if breaker.is_paused(live.client, account, live.today(now)):
        return _close(live, slot_id, Status.SKIPPED, now, "circuit breaker open for today")
    if not slot.linkedin_url:
        return _close(live, slot_id, Status.SKIPPED, now, "no eligible profile for this slot")
    key = profile_key(slot.linkedin_url)
    ledger_entry = live.store.get_ledger(account).get(key)
    if _engaged_recently(ledger_entry, record.day, live):
        # The plan already avoids this (I5); a stale binding must not break it either.
        return _close(live, slot_id, Status.SKIPPED, now, "engaged successfully yesterday or today")
    early_s = (live.clock.to_real(slot.scheduled_at) - live.clock.real_now()).total_seconds()
    if early_s > MAX_EARLY_WAIT_S:
        # A stray copy of the job (its slot was re-timed later): the slot's own job comes.
        return _ignored(slot_id, f"not due for {early_s:.0f}s")
    if early_s > 0:
        # RQ keeps whole seconds, so a job may arrive up to a second before its instant.
        time.sleep(early_s)
        now = live.clock()
    if not live.store.claim_slot(account, slot_id, now):
        return _ignored(slot_id, "claimed by another run")
    start, end = day_window(record.day, settings)
    tolerance = timedelta(minutes=settings.LATE_TOLERANCE_MINUTES)
    if now - slot.scheduled_at > tolerance or not start <= now < end:
        why = "outside operating hours" if not start <= now < end else "late"
        return _retime_or_miss(live, record, rng, now=now, not_before=now + LEAD, why=why)
    guard = Guard(live.client, settings, account)
    decision = guard.reserve(slot_id, now)
    if not decision.allowed:
        jitter = timedelta(seconds=float(rng.uniform(0, RETRY_JITTER_S)))
        not_before = now + timedelta(seconds=decision.retry_after_s) + jitter
        why = f"{decision.blocked_by} cap reached"
        return _retime_or_miss(live, record, rng, now=now, not_before=not_before, why=why)
    request = EngagementRequest.from_slot(account, slot, attempt=slot.attempts + 1)
    result = call_handler(handler, request)
    finished = live.clock()
    entry = record_outcome(
        live.store.get_ledger(account).get(key), result.outcome, finished, settings
    )
    try:
        live.store.finish_slot(
            account,
            slot_id,
            result.outcome,
            finished,
            reason=result.reason,
            ledger_key=key,
            ledger_entry=entry,
        )
    except (SlotStateError, SlotNotFound) as exc:
        # This run outlived its worker: the claim was already reported unknown (or the week
        # replaced). The action did happen, so the ledger still learns its outcome.
        live.store.put_ledger_entry(account, key, entry)
        if result.outcome is not Status.DONE:
            guard.release(slot_id)
        log.warning("slot %s: %s recorded late (%s)", slot_id, result.outcome.value, exc)
        return RunResult(slot_id, "ignored", f"{result.outcome.value} recorded late: {exc}")
    # A crash between these two steps leaves the reservation counted: the caps only get
    # stricter, never looser.
    if result.outcome is not Status.DONE:
        guard.release(slot_id)
    if breaker.record(
        live.client, account, result.outcome, live.today(now), settings.BREAKER_THRESHOLD
    ):
        log.warning(
            "account %s: %d failures in a row, paused for today",
            account,
            settings.BREAKER_THRESHOLD,
        )
    engaged = finished if result.outcome is Status.DONE else None
    if settings.WRITE_BACK:
        update = OutcomeUpdate(key, engaged, result.outcome.value, finished)
        outbox.push(live.client, account, update)
    log.info("slot %s: %s %s", slot_id, result.outcome.value, result.reason)
    return RunResult(slot_id, result.outcome.value, result.reason)


def _engaged_recently(entry: LedgerEntry | None, day: date, live: Live) -> bool:
    if entry is None or entry.last_done_at is None:
        return False
    return live.today(entry.last_done_at) >= day - timedelta(days=1)


def _retime_or_miss(
    live: Live,
    record: SlotRecord,
    rng: np.random.Generator,
    *,
    now: datetime,
    not_before: datetime,
    why: str,
) -> RunResult:
    """Move a claimed slot into the rest of its day's window, or mark it missed."""
    slot, settings = record.engagement, live.settings
    taken = [
        s.scheduled_at
        for s in live.store.slots_of_day(live.account, record.day)
        if s.slot_id != slot.slot_id and s.status not in (Status.MISSED, Status.SKIPPED)
    ]
    new = retime(rng, record.day, settings, taken=taken, not_before=max(not_before, now + LEAD))
    if new is None:
        return _close(
            live, slot.slot_id, Status.MISSED, now, f"{why}; no room left in its day", claimed=True
        )
    moved = live.store.reschedule_slot(
        live.account, slot.slot_id, new, local_hhmm(new, settings), expected=Status.CLAIMED
    )
    if not moved:
        return _ignored(slot.slot_id, "slot changed while re-timing")
    fresh = live.store.load_slot(live.account, slot.slot_id).engagement
    schedule_slot(live, fresh, job_id=slot_job_id(slot.slot_id, fresh.attempts))
    log.info("slot %s: %s; moved to %s", slot.slot_id, why, fresh.scheduled_time)
    return RunResult(slot.slot_id, "rescheduled", f"{why}; moved to {fresh.scheduled_time}")


def _close(
    live: Live, slot_id: str, status: Status, now: datetime, reason: str, *, claimed: bool = False
) -> RunResult:
    expected = Status.CLAIMED if claimed else Status.PENDING
    if live.store.set_slot_status(
        live.account, slot_id, expected=expected, new=status, at=now, reason=reason
    ):
        log.info("slot %s: %s (%s)", slot_id, status.value, reason)
        return RunResult(slot_id, status.value, reason)
    return _ignored(slot_id, "slot changed concurrently")


def _ignored(slot_id: str, why: str) -> RunResult:
    log.info("slot %s: ignored: %s", slot_id, why)
    return RunResult(slot_id, "ignored", why)
