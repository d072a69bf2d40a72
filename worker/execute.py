"""One slot's run, as DESIGN.md "Flow" has it: claim, check the time, reserve, act, record.

Order matters. The claim comes first (pending -> claimed, atomically), so whatever
duplicates, retries or redeliveries happen, one process at most goes on (I3). Lateness and
operating hours are checked next (I4), then the guard reserves the action in every window
at once (I1, I2). Only then is the handler called. Expected outcomes never raise: a job
that raised would land in RQ's failed registry and invite a manual retry.

Round trips on the way to a ``done`` (the per-action overhead, issue 6): two.

1. ``slot_run.lua`` (:mod:`worker.slot_run`) starts the run in one atomic step: it reads
   the server's ``TIME`` through the account's demo time map, checks the slot is pending,
   due (a stray early copy of the job claims nothing) and on time inside its day's window,
   then runs ``slot_begin.lua`` (claim it if the breaker is not paused, the ledger does not
   show the profile engaged on the day before or the same day, and no run of the profile
   on the day before, the same day or the day after is in flight: I3, I5 under
   concurrency; it registers this run in flight and returns the profile's ledger entry)
   and ``guard_reserve.lua`` (I1, I2) as functions of the same script. What it needs of
   the slot is stored with it: the instant in epoch microseconds and the profile's ledger
   key; what depends on the slot's day (the day's window, the I5 day bounds, the guard's
   counters) comes from the slot id's date, built once per account and day.
2. ``slot_end.lua``: the outcome into the slot, the ledger entry, the end of the in-flight
   entry, the breaker's count and the write-back outbox.

Whatever the one step does not do is done in separate steps, each with its own checks
(:func:`_run_in_steps`): a late slot or one outside its window (re-timed or missed), a slot
stored before the derived fields, a slot id without a date, and a run given an explicit
``now`` (tests, replays). Those are: one pipelined read (``TIME``, the time map, the slot,
the breaker's paused day), ``slot_begin.lua``, ``Guard.reserve``, and ``slot_end.lua``.

The time after the handler is the server instant of the start plus the local
monotonic time elapsed since (times the demo speed): the origin is Redis ``TIME``, one
clock for every host; only the elapsed part is local, and a monotonic clock has no offset.

The ledger entry the claim returned is the base of the new one: only a run of the same
profile could change it meanwhile, and such a run is on this day or the next or previous
one (a run only acts inside its own day's window), which the in-flight check refuses.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

from planner import keys, outbox
from planner.enqueue import slot_job_id
from planner.guard import Decision, Guard
from planner.ledger import LedgerEntry, record_outcome
from planner.profiles import profile_key
from planner.server_clock import TimeMap, from_time_reply, parse_time_map
from planner.service import Live, schedule_slot
from planner.sources.base import OutcomeUpdate
from planner.store import (
    Begun,
    RunClaim,
    RunOutcome,
    SlotNotFound,
    SlotRecord,
    SlotStateError,
    codec,
)
from planner.store.redis_common import checked, text, translate
from planner.timing import day_window, local_hhmm, retime
from planner.weekly_plan import Status
from worker.handlers import EngagementRequest, Handler, call_handler
from worker.slot_run import MAX_EARLY_WAIT_S, Declined, i5_since, start_run

log = logging.getLogger(__name__)

RETRY_JITTER_S = 90.0  # spread re-tried slots so two refused jobs do not collide again
LEAD = timedelta(seconds=30)  # a re-timed slot is never placed closer than this to now
MAX_READS = 4  # reads of a slot that keeps changing under us before giving up
NO_SUCH_SLOT = "no such slot (its week was replaced or deleted)"
PAUSED = "circuit breaker open for today"
ENGAGED_RECENTLY = "engaged successfully yesterday or today"


@dataclass(frozen=True)
class RunResult:
    slot_id: str
    status: str  # a final Status value, or "rescheduled" / "ignored"
    detail: str = ""


@dataclass(frozen=True)
class Snapshot:
    """One pipelined read: the server clock, the demo time map, a slot, the breaker."""

    real_now: datetime
    time_map: TimeMap | None
    record: SlotRecord | None
    paused_day: date | None
    read_at: float  # time.monotonic() when the reply arrived

    def virtual(self, real: datetime) -> datetime:
        return real if self.time_map is None else self.time_map.virtual(real)

    def now(self) -> datetime:
        """The clock (``Live.clock``) at the read."""
        return self.virtual(self.real_now)

    def later(self) -> datetime:
        """The clock now: the read's server instant plus the monotonic time since."""
        elapsed = timedelta(seconds=time.monotonic() - self.read_at)
        return self.virtual(self.real_now + elapsed)

    def to_real(self, virtual: datetime) -> datetime:
        return virtual if self.time_map is None else self.time_map.real(virtual)


def read_snapshot(live: Live, slot_id: str) -> Snapshot:
    """TIME, the time map, the slot and the breaker's paused day in one round trip."""
    names = [
        "TIME",
        keys.clock(live.account),
        keys.slot(live.account, slot_id),
        keys.breaker(live.account),
    ]
    pipe = live.client.pipeline(transaction=False)
    pipe.time()
    pipe.hgetall(names[1])
    pipe.hgetall(names[2])
    pipe.hget(names[3], "paused_day")
    with translate(names[2]):
        replies = checked(pipe.execute(raise_on_error=False), names)
    read_at = time.monotonic()
    time_reply, clock_raw, slot_raw, paused = replies
    real_now = from_time_reply(time_reply)
    record = codec.decode_slot(names[2], slot_raw) if slot_raw else None
    paused_day = date.fromisoformat(text(paused)) if paused else None
    return Snapshot(real_now, parse_time_map(clock_raw, names[1]), record, paused_day, read_at)


def execute_slot(
    live: Live,
    handler: Handler,
    rng: np.random.Generator,
    slot_id: str,
    *,
    now: datetime | None = None,
    guard: Guard | None = None,
) -> RunResult:
    """Run one slot. ``guard``: the account's Guard, if the caller keeps one.

    ``now`` runs it as if at that instant (tests, replays): in separate steps, which take
    the instant as given. Without it the run starts in one step (``slot_run.lua``, which
    reads the server clock itself), and only what that step leaves takes the steps.
    """
    guard = guard or Guard(live.client, live.settings, live.account)
    if now is None:
        result = _run_in_one_step(live, handler, rng, slot_id, guard)
        if result is not None:
            return result
    return _run_in_steps(live, handler, rng, slot_id, now=now, guard=guard)


def _run_in_one_step(
    live: Live, handler: Handler, rng: np.random.Generator, slot_id: str, guard: Guard
) -> RunResult | None:
    """The common path: ``slot_run.lua`` then, if it claimed and reserved, the handler and
    ``slot_end.lua``. None when the script left the run to :func:`_run_in_steps`."""
    for _ in range(MAX_READS):
        started = start_run(live.client, live.account, live.settings, guard, slot_id)
        if not (isinstance(started, Declined) and started.kind == "W"):
            break
        time.sleep(started.wait_s)  # RQ keeps whole seconds: a job may be a second early
    else:
        return None
    if isinstance(started, Declined):
        return _declined(live, slot_id, started)
    now = started.now
    if started.code == 2:
        why = f"the same profile is in flight in slot {started.detail.split(' ')[0]}"
        record = live.store.load_slot(live.account, slot_id)
        return _retime_or_miss(live, record, rng, now=now, not_before=now + LEAD, why=why)
    decision = started.guard
    if decision is None or not decision.allowed:
        record = live.store.load_slot(live.account, slot_id)
        return _refused(live, record, rng, now, decision)
    request = EngagementRequest(
        account=live.account,
        slot_id=slot_id,
        linkedin_url=started.linkedin_url,
        name=started.name,
        scheduled_at=started.scheduled_at,
        attempt=started.attempts,
        forced=started.forced,
        dry_run=False,
    )
    return _act(
        live,
        handler,
        guard,
        request,
        profile=started.profile_key,
        entry=started.ledger_entry,
        today=live.today(now),
        clock=started.later,
    )


def _declined(live: Live, slot_id: str, declined: Declined) -> RunResult | None:
    """What the one-step start answered when it wrote nothing (None: take the steps)."""
    if declined.kind == "N":
        return _ignored(slot_id, NO_SUCH_SLOT)
    if declined.kind == "S":
        return _ignored(slot_id, f"slot is {declined.detail}; nothing to do")
    if declined.kind == "X":
        # A stray copy of the job (its slot was re-timed later): the slot's own job comes.
        return _ignored(slot_id, f"not due for {declined.wait_s:.0f}s")
    if declined.kind == "B" and declined.now is not None:
        if declined.code == Begun.PAUSED.value:
            return _close(live, slot_id, Status.SKIPPED, declined.now, PAUSED)
        if declined.code == Begun.ENGAGED_RECENTLY.value:
            return _close(live, slot_id, Status.SKIPPED, declined.now, ENGAGED_RECENTLY)
    return None


def _run_in_steps(
    live: Live,
    handler: Handler,
    rng: np.random.Generator,
    slot_id: str,
    *,
    now: datetime | None,
    guard: Guard,
) -> RunResult:
    """Every case, in separate steps (see the module's docstring)."""
    account, settings = live.account, live.settings
    given = now
    for _ in range(MAX_READS):
        snap = read_snapshot(live, slot_id)
        record = snap.record
        if record is None:
            return _ignored(slot_id, NO_SUCH_SLOT)
        slot = record.engagement
        if slot.status is not Status.PENDING:
            return _ignored(slot_id, f"slot is {slot.status.value}; nothing to do")
        now = given or snap.now()
        today = live.today(now)
        if snap.paused_day == today:
            return _close(live, slot_id, Status.SKIPPED, now, PAUSED)
        if not slot.linkedin_url:
            return _close(live, slot_id, Status.SKIPPED, now, "no eligible profile for this slot")
        early_s = (snap.to_real(slot.scheduled_at) - snap.real_now).total_seconds()
        if early_s > MAX_EARLY_WAIT_S:
            # A stray copy of the job (its slot was re-timed later): the slot's own job comes.
            return _ignored(slot_id, f"not due for {early_s:.0f}s")
        if early_s > 0:
            # RQ keeps whole seconds, so a job may arrive up to a second before its instant.
            time.sleep(early_s)
            given = None
            continue
        key = profile_key(slot.linkedin_url)
        claim = RunClaim(
            now=now,
            scheduled_at=slot.scheduled_at,
            linkedin_url=slot.linkedin_url,
            profile_key=key,
            day=record.day,
            today=today,
            engaged_since=i5_since(record.day, settings),
        )
        begun = live.store.begin_run(account, slot_id, claim)
        if begun.code is not Begun.CHANGED:
            break
    else:
        return _ignored(slot_id, "the slot kept changing while being claimed")
    if begun.code is Begun.NOT_FOUND:
        return _ignored(slot_id, NO_SUCH_SLOT)
    if begun.code is Begun.NOT_PENDING:
        return _ignored(slot_id, f"claimed by another run (slot is {begun.detail})")
    if begun.code is Begun.PAUSED:
        return _close(live, slot_id, Status.SKIPPED, now, PAUSED)
    if begun.code is Begun.ENGAGED_RECENTLY:
        # The plan already avoids this (I5); a stale binding must not break it either.
        return _close(live, slot_id, Status.SKIPPED, now, ENGAGED_RECENTLY)
    start, end = day_window(record.day, settings)
    tolerance = timedelta(minutes=settings.LATE_TOLERANCE_MINUTES)
    if now - slot.scheduled_at > tolerance or not start <= now < end:
        why = "outside operating hours" if not start <= now < end else "late"
        return _retime_or_miss(live, record, rng, now=now, not_before=now + LEAD, why=why)
    if begun.code is Begun.CLAIMED_IN_FLIGHT_ELSEWHERE:
        # Its run on the day before, the same day or the day after has not finished: if it
        # succeeds, acting now would engage on consecutive days (I5). A later run re-checks.
        other = begun.detail.split(" ")[0]
        why = f"the same profile is in flight in slot {other}"
        return _retime_or_miss(live, record, rng, now=now, not_before=now + LEAD, why=why)
    decision = guard.reserve(slot_id, now)
    if not decision.allowed:
        return _refused(live, record, rng, now, decision)
    request = EngagementRequest.from_slot(account, slot, attempt=slot.attempts + 1)
    return _act(
        live,
        handler,
        guard,
        request,
        profile=key,
        entry=begun.ledger_entry,
        today=today,
        clock=snap.later,
    )


def _refused(
    live: Live,
    record: SlotRecord,
    rng: np.random.Generator,
    now: datetime,
    decision: Decision | None,
) -> RunResult:
    """The guard refused a claimed slot: try again after the wait (plus jitter) or miss."""
    wait = decision.retry_after_s if decision is not None else 0.0
    jitter = timedelta(seconds=float(rng.uniform(0, RETRY_JITTER_S)))
    not_before = now + timedelta(seconds=wait) + jitter
    why = f"{decision.blocked_by if decision is not None else 'guard'} cap reached"
    return _retime_or_miss(live, record, rng, now=now, not_before=not_before, why=why)


def _act(
    live: Live,
    handler: Handler,
    guard: Guard,
    request: EngagementRequest,
    *,
    profile: str,
    entry: LedgerEntry | None,
    today: date,
    clock: Callable[[], datetime],
) -> RunResult:
    """Call the handler for a claimed, reserved slot and record what it answered."""
    account, settings, slot_id = live.account, live.settings, request.slot_id
    result = call_handler(handler, request)
    finished = clock()
    engaged = finished if result.outcome is Status.DONE else None
    item = None
    if settings.WRITE_BACK:
        item = outbox.encode(OutcomeUpdate(profile, engaged, result.outcome.value, finished))
    ended = live.store.end_run(
        account,
        slot_id,
        RunOutcome(
            status=result.outcome,
            at=finished,
            reason=result.reason,
            profile_key=profile,
            ledger_entry=record_outcome(entry, result.outcome, finished, settings),
            today=today,
            breaker_threshold=settings.BREAKER_THRESHOLD,
            outbox_item=item,
        ),
    )
    # A crash between these two steps leaves the reservation counted: the caps only get
    # stricter, never looser.
    if result.outcome is not Status.DONE:
        guard.release(slot_id)
    if not ended.finished:
        # This run outlived its worker: the claim was already reported unknown (or the week
        # replaced). The action did happen, so the ledger still learned its outcome.
        slot_key = keys.slot(account, slot_id)
        exc = (
            SlotStateError(slot_key, Status.CLAIMED, ended.status)
            if ended.status
            else SlotNotFound(slot_key)
        )
        log.warning("slot %s: %s recorded late (%s)", slot_id, result.outcome.value, exc)
        return RunResult(slot_id, "ignored", f"{result.outcome.value} recorded late: {exc}")
    if ended.tripped:
        log.warning(
            "account %s: %d failures in a row, paused for today",
            account,
            settings.BREAKER_THRESHOLD,
        )
    log.info("slot %s: %s %s", slot_id, result.outcome.value, result.reason)
    return RunResult(slot_id, result.outcome.value, result.reason)


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
