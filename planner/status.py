"""What ``status`` reports for one account: counters, plan progress, coverage, health."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from planner import breaker, keys
from planner.guard import Guard
from planner.ledger import days_since, in_cooldown
from planner.live import Live, load_profiles, recover_stale_claims
from planner.weekly_plan import Status, WeeklyPlan, week_monday


@dataclass
class AccountStatus:
    account: str
    now: datetime
    usage: dict[str, Any]
    plan: WeeklyPlan | None
    statuses: dict[str, int] = field(default_factory=dict)
    next_slot: dict[str, Any] | None = None
    overdue: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    profiles: int = 0
    paused_today: bool = False
    consecutive_failures: int = 0
    newly_unknown: list[str] = field(default_factory=list)
    outbox: int = 0

    @property
    def problems(self) -> list[str]:
        out = []
        if self.plan is None:
            out.append("no plan for this week (run generate-week)")
        if self.paused_today:
            out.append("circuit breaker open: paused for today (run resume)")
        if self.statuses.get(Status.UNKNOWN.value):
            out.append(
                f"{self.statuses[Status.UNKNOWN.value]} slots interrupted mid-action (unknown)"
            )
        return out

    @property
    def healthy(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        usage = {k: v for k, v in self.usage.items() if k in ("hourly", "daily", "weekly")}
        return {
            "account": self.account,
            "now": self.now.isoformat(),
            "healthy": self.healthy,
            "problems": self.problems,
            "counters": usage,
            "plan": None
            if self.plan is None
            else {
                "week": self.plan.label,
                "total_budget": self.plan.total_budget,
                "executed": self.plan.total_completed(),
                "statuses": self.statuses,
                "revision": self.plan.revision,
            },
            "next_slot": self.next_slot,
            "coverage": {
                "profiles": self.profiles,
                "overdue": self.overdue,
                "unreachable": self.unreachable,
            },
            "breaker": {
                "paused_today": self.paused_today,
                "consecutive_failures": self.consecutive_failures,
            },
            "outbox_pending": self.outbox,
        }


def gather(live: Live) -> AccountStatus:
    """Read everything ``status`` shows; turns crashed claims into ``unknown`` on the way."""
    now = live.clock()
    usage = Guard(live.client, live.settings, live.account).usage(now)
    plan = live.store.load_week(live.account, week_monday(live.today(now)))
    result = AccountStatus(account=live.account, now=now, usage=usage, plan=plan)
    if plan is not None:
        result.newly_unknown = recover_stale_claims(live, plan, now)
        if result.newly_unknown:
            plan = live.store.load_week(live.account, plan.week_start)
            result.plan = plan
    if plan is not None:
        result.statuses = dict(Counter(s.status.value for s in plan.slots()))
        upcoming = [s for s in plan.slots() if s.is_open and s.scheduled_at >= now]
        if upcoming:
            nxt = min(upcoming, key=lambda s: s.scheduled_at)
            result.next_slot = {
                "slot_id": nxt.slot_id,
                "at": nxt.scheduled_at.isoformat(),
                "local_time": f"{nxt.scheduled_at.astimezone(live.settings.tz):%a %H:%M}",
                "profile": nxt.name or nxt.linkedin_url,
            }
    profiles = load_profiles(live)
    ledger = live.store.get_ledger(live.account)
    result.profiles = len(profiles)
    limit = live.settings.COVERAGE_GUARANTEE_DAYS
    for p in profiles:
        entry = ledger.get(p.key)
        if not p.active:
            continue
        if in_cooldown(entry, now):
            result.unreachable.append(p.linkedin_url)
        elif days_since(p, entry, now) > limit:
            result.overdue.append(p.linkedin_url)
    result.paused_today = breaker.is_paused(live.client, live.account, live.today(now))
    result.consecutive_failures = breaker.failures(live.client, live.account)
    # outbox.pending, without importing planner.outbox: it loads every profile source.
    result.outbox = int(live.client.llen(keys.outbox(live.account)))
    return result
