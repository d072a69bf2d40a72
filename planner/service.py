"""Operations on a live account: the imperative shell around the pure planning core.

Used by the CLI and by the worker's chain jobs alike: store a week and enqueue its jobs,
revise today from the live ledger, and turn slots left ``claimed`` by a crash into
``unknown`` (reported, never re-run: engaging twice can undo a like, I3).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import redis

from config.settings import Settings
from planner import keys
from planner.enqueue import JOB_TIMEOUT_S, RUN_SLOT, DelayedQueue, delayed_queue
from planner.profiles import Profile
from planner.server_clock import ServerClock
from planner.store import PlanStore, RedisPlanStore, SlotBinding
from planner.store.redis_common import text
from planner.week import REBOUND_FIELDS, PlanReport, build_week, revise
from planner.weekly_plan import (
    TERMINAL,
    ScheduledEngagement,
    Status,
    WeeklyPlan,
    slot_id_for,
    week_monday,
)

# A claimed slot whose job is no longer alive, or that has been claimed longer than any job
# may run, was interrupted mid-action.
STALE_CLAIM_GRACE = timedelta(seconds=JOB_TIMEOUT_S + 60)
LIVE_JOB_STATES = {"queued", "deferred"}  # "scheduled": the backend; "started": heartbeat


class ServiceError(Exception):
    """Raised when a live operation cannot proceed; the message says why."""


@dataclass
class Live:
    """Everything needed to act on one account: settings, Redis, store, queue and clock."""

    account: str
    settings: Settings
    client: redis.Redis
    store: PlanStore
    queue: DelayedQueue
    clock: ServerClock

    @classmethod
    def connect(cls, client: redis.Redis, settings: Settings, account: str) -> Live:
        return cls(
            account=account,
            settings=settings,
            client=client,
            store=RedisPlanStore(client),
            queue=delayed_queue(client, settings.SCHEDULER_BACKEND, settings.QUEUE_NAME),
            clock=ServerClock(client),
        )

    def today(self, now: datetime) -> date:
        return now.astimezone(self.settings.tz).date()


@dataclass
class StoreOutcome:
    plan: WeeklyPlan
    report: PlanReport | None
    action: str  # "created" | "exists" | "replaced"
    scheduled: int = 0
    cancelled: int = 0
    notes: list[str] = field(default_factory=list)


# ---- profiles snapshot -----------------------------------------------------------------


def save_profiles(live: Live, profiles: Sequence[Profile]) -> None:
    """Keep the profiles the week was planned from, so any worker host can revise."""
    key = keys.profiles(live.account)
    pipe = live.client.pipeline(transaction=True)
    pipe.delete(key)
    if profiles:
        pipe.hset(key, mapping={p.key: p.model_dump_json() for p in profiles})
    pipe.execute()


def load_profiles(live: Live) -> list[Profile]:
    raw = live.client.hgetall(keys.profiles(live.account))
    out = []
    for field_, value in sorted(raw.items()):
        try:
            out.append(Profile.model_validate_json(value))
        except ValueError as exc:
            raise ServiceError(
                f"{keys.profiles(live.account)} field {text(field_)!r}: unreadable profile"
            ) from exc
    return out


# ---- jobs ------------------------------------------------------------------------------


def current_job_id(live: Live, slot_id: str) -> str:
    raw = live.client.hget(keys.slot_jobs(live.account), slot_id)
    return text(raw) if raw else slot_id


def schedule_slot(live: Live, slot: ScheduledEngagement, *, job_id: str | None = None) -> bool:
    """Schedule the run of ``slot`` at its instant (idempotent per job id)."""
    job_id = job_id or current_job_id(live, slot.slot_id)
    if job_alive(live, job_id):
        return False
    live.client.hset(keys.slot_jobs(live.account), slot.slot_id, job_id)
    return live.queue.schedule(
        job_id, live.clock.to_real(slot.scheduled_at), RUN_SLOT, (live.account, slot.slot_id)
    )


def job_alive(live: Live, job_id: str) -> bool:
    """Scheduled, queued, or running on a worker whose heartbeat has not expired."""
    if live.queue.scheduled_at(job_id) is not None:
        return True
    raw = live.client.hget(f"rq:job:{job_id}", "status")
    status = text(raw) if raw is not None else None
    if status == "started":
        return _heartbeat_alive(live, job_id)
    return status in LIVE_JOB_STATES


def _heartbeat_alive(live: Live, job_id: str) -> bool:
    # RQ only marks a killed worker's job abandoned at its next maintenance pass (minutes);
    # the execution's heartbeat in the started registry expires within about 90 seconds.
    from rq.registry import StartedJobRegistry  # noqa: PLC0415

    key = StartedJobRegistry(live.settings.QUEUE_NAME, connection=live.client).key
    real_now = live.clock.real_now().timestamp()  # RQ scores real time, never the demo's
    return any(
        float(score) > real_now for _, score in live.client.zscan_iter(key, match=f"{job_id}:*")
    )


def ensure_jobs(live: Live, plan: WeeklyPlan) -> int:
    """Every pending slot has a live job; returns how many had to be (re)scheduled."""
    return sum(schedule_slot(live, slot) for slot in plan.slots() if slot.is_open)


def cancel_jobs(live: Live, plan: WeeklyPlan) -> int:
    ids = [current_job_id(live, s.slot_id) for s in plan.slots() if s.is_open]
    return live.queue.cancel(ids)


# ---- weeks -----------------------------------------------------------------------------


def generate(
    live: Live,
    profiles: Sequence[Profile],
    *,
    now: datetime,
    rng: np.random.Generator,
    week_start: date | None = None,
    force: bool = False,
) -> StoreOutcome:
    """Plan and store a week with its jobs; an existing week is kept unless ``force``.

    Replacing keeps every slot that already ran (or is running) and plans the rest anew.
    """
    settings = live.settings
    monday = week_start or week_monday(live.today(now))
    existing = live.store.load_week(live.account, monday)
    if existing is not None and not force:
        scheduled = ensure_jobs(live, existing)
        return StoreOutcome(existing, None, "exists", scheduled=scheduled)
    ledger = live.store.get_ledger(live.account)
    used = _used_this_week(existing)
    plan, report = build_week(
        account=live.account,
        profiles=profiles,
        ledger=ledger,
        now=now,
        settings=settings,
        rng=rng,
        week_start=monday,
        used_this_week=used,
    )
    cancelled = 0
    if existing is not None:
        cancelled = cancel_jobs(live, existing)
        plan = _merge_kept(existing, plan)
    save_profiles(live, profiles)
    live.store.save_week(
        plan, replace=existing is not None, settings_snapshot=settings_snapshot(settings)
    )
    scheduled = ensure_jobs(live, plan)
    action = "replaced" if existing is not None else "created"
    return StoreOutcome(plan, report, action, scheduled=scheduled, cancelled=cancelled)


def _used_this_week(plan: WeeklyPlan | None) -> int:
    return 0 if plan is None else sum(1 for s in plan.slots() if not s.is_open)


def _merge_kept(old: WeeklyPlan, new: WeeklyPlan) -> WeeklyPlan:
    """The new plan plus every slot of the old one that already left ``pending``."""
    days = {}
    for key in sorted(set(old.days) | set(new.days)):
        old_slots = old.days[key].engagements if key in old.days else []
        kept = [e for e in old_slots if not e.is_open]
        fresh_day = new.days.get(key)
        # New slots get indices after every old one, so no slot id is ever reused.
        offset = 1 + max((e.index for e in old_slots), default=-1)
        renumbered = [
            e.model_copy(
                update={
                    "index": e.index + offset,
                    "slot_id": slot_id_for(new.account, date.fromisoformat(key), e.index + offset),
                }
            )
            for e in (fresh_day.engagements if fresh_day else [])
        ]
        engagements = sorted(kept + renumbered, key=lambda e: e.scheduled_at)
        base = fresh_day or old.days[key]
        days[key] = base.model_copy(update={"engagements": engagements, "budget": len(engagements)})
    return new.model_copy(update={"days": days, "revision": old.revision + 1})


SNAPSHOT_EXCLUDED = frozenset(
    # URLs may carry credentials (a Redis password, an n8n webhook path that is a key).
    {"WEBHOOK_SECRET", "WEBHOOK_URL", "REDIS_URL", "GOOGLE_SERVICE_ACCOUNT_FILE"}
)


def settings_snapshot(settings: Settings) -> dict[str, Any]:
    """The settings a plan was made with, without anything that could be a secret."""
    return json.loads(settings.model_dump_json(exclude=set(SNAPSHOT_EXCLUDED)))  # type: ignore[no-any-return]


# ---- revise and recovery ---------------------------------------------------------------


def recover_stale_claims(live: Live, plan: WeeklyPlan, now: datetime) -> list[str]:
    """Claimed slots with no live job (a worker died mid-action) become ``unknown``."""
    found = []
    for slot in plan.slots():
        if slot.status is not Status.CLAIMED:
            continue
        # Real elapsed time: under the demo's compressed clock minutes pass in milliseconds.
        too_long = (
            slot.claimed_at is not None
            and live.clock.real_now() - live.clock.to_real(slot.claimed_at) > STALE_CLAIM_GRACE
        )
        if too_long or not job_alive(live, current_job_id(live, slot.slot_id)):
            reason = "claimed by a worker that stopped mid-action; not re-run (at most once)"
            if live.store.set_slot_status(
                live.account,
                slot.slot_id,
                expected=Status.CLAIMED,
                new=Status.UNKNOWN,
                at=now,
                reason=reason,
            ):
                found.append(slot.slot_id)
    return found


def revise_live(
    live: Live, *, now: datetime, rng: np.random.Generator
) -> tuple[WeeklyPlan, PlanReport, list[str]]:
    """Re-bind today's and later open slots from the live ledger; report crashed claims."""
    monday = week_monday(live.today(now))
    plan = live.store.load_week(live.account, monday)
    if plan is None:
        raise ServiceError(f"account {live.account!r}: no plan for the week of {monday}")
    unknown = recover_stale_claims(live, plan, now)
    if unknown:
        plan = live.store.load_week(live.account, monday) or plan
    profiles = load_profiles(live)
    revised, report = revise(
        plan,
        profiles=profiles,
        ledger=live.store.get_ledger(live.account),
        now=now,
        settings=live.settings,
        rng=rng,
    )
    bindings = {
        slot.slot_id: SlotBinding(**{name: getattr(slot, name) for name in REBOUND_FIELDS})
        for slot in revised.slots()
        if slot.is_open
    }
    live.store.rebind_open_slots(live.account, monday, bindings)
    fresh = live.store.load_week(live.account, monday) or revised
    ensure_jobs(live, fresh)
    return fresh, report, unknown


def terminal_count(plan: WeeklyPlan) -> int:
    return sum(s.status in TERMINAL for s in plan.slots())
