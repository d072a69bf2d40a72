"""Operations on a live account: the imperative shell around the pure planning core.

Used by the CLI and by the worker's chain jobs alike: store a week and enqueue its jobs,
revise today from the live ledger, and turn slots left ``claimed`` by a crash into
``unknown`` (reported, never re-run: engaging twice can undo a like, I3).

The account handle ``Live``, job scheduling, liveness and claim recovery live in
``planner.live`` (no numpy, so ``status`` starts fast) and are re-exported here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from config.settings import Settings
from planner.live import (
    LIVE_JOB_STATES,
    STALE_CLAIM_GRACE,
    Live,
    ServiceError,
    cancel_jobs,
    current_job_id,
    current_job_ids,
    ensure_jobs,
    job_alive,
    jobs_alive,
    load_profiles,
    recover_stale_claims,
    save_profiles,
    schedule_slot,
)
from planner.profiles import Profile
from planner.store import SlotBinding
from planner.week import REBOUND_FIELDS, PlanReport, build_week, revise
from planner.weekly_plan import (
    TERMINAL,
    WeeklyPlan,
    slot_id_for,
    week_monday,
)

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "LIVE_JOB_STATES",
    "STALE_CLAIM_GRACE",
    "Live",
    "ServiceError",
    "StoreOutcome",
    "cancel_jobs",
    "current_job_id",
    "current_job_ids",
    "ensure_jobs",
    "generate",
    "job_alive",
    "jobs_alive",
    "load_profiles",
    "recover_stale_claims",
    "revise_live",
    "save_profiles",
    "schedule_slot",
    "settings_snapshot",
    "terminal_count",
]


@dataclass
class StoreOutcome:
    plan: WeeklyPlan
    report: PlanReport | None
    action: str  # "created" | "exists" | "replaced"
    scheduled: int = 0
    cancelled: int = 0
    notes: list[str] = field(default_factory=list)


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
