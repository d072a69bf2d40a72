"""The seed's drop-in Scheduler on a real Redis: messages, counting, planning, outcomes."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
import redis

from config.settings import Settings
from planner.guard import Guard
from planner.profiles import Profile, profile_key
from planner.scheduler import (
    PAIRING_WINDOW,
    ProfileDataError,
    Scheduler,
    SchedulerError,
)
from planner.weekly_plan import ScheduledEngagement, Status

MONDAY_6 = datetime(2026, 2, 9, 6, 0, tzinfo=UTC)
MONDAY_10 = datetime(2026, 2, 9, 10, 0, tzinfo=UTC)


def tight(**overrides: Any) -> Settings:
    """Small caps so each one is reached in a few calls (UTC, no minimum gap by default)."""
    values: dict[str, Any] = {
        "HOURLY_LIMIT": 2,
        "DAILY_LIMIT": 3,
        "WEEKLY_LIMIT": 5,
        "DAILY_BUDGET_MIN": 0,
        "DAILY_BUDGET_MAX": 3,
        "WEEKLY_BUDGET_TARGET": 5,
        "TIMING_MIN_GAP_MINUTES": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def make(client: redis.Redis, settings: Settings, **kwargs: Any) -> Scheduler:
    return Scheduler(
        settings, client=client, account="acct", rng=np.random.default_rng(7), **kwargs
    )


def seed_rows(n: int = 30) -> list[dict[str, Any]]:
    """Profiles as the seed's engine hands them over: dicts with mixed value types."""
    rows: list[dict[str, Any]] = []
    for i in range(n):
        row: dict[str, Any] = {"linkedin_url": f"https://example.com/in/p{i}", "name": f"P{i}"}
        if i % 3 == 0:
            row["last_like_date"] = (MONDAY_6 - timedelta(days=i % 13)).date().isoformat()
        elif i % 3 == 1:
            row["days_since_last_like"] = float(i % 11)
        row["active"] = True
        rows.append(row)
    return rows


def profiles(n: int = 30) -> list[Profile]:
    return [
        Profile(
            linkedin_url=f"https://example.com/in/q{i}",
            name=f"Q{i}",
            last_engaged_at=MONDAY_6 - timedelta(days=i % 12),
        )
        for i in range(n)
    ]


def first_today(scheduler: Scheduler, now: datetime) -> ScheduledEngagement:
    queue = scheduler.get_todays_queue(now=now)
    assert queue, "the plan should have a slot today"
    return queue[0]


# ---- check_limits / consume / status ----------------------------------------------------


def test_hourly_limit_message(redis_client: redis.Redis) -> None:
    """Two actions in an hour give the seed's "hourly_limit (2/2)"."""
    s = make(redis_client, tight())
    assert s.check_limits(now=MONDAY_10) == (True, "ok")
    assert s.consume(now=MONDAY_10)
    assert s.consume(now=MONDAY_10 + timedelta(minutes=5))
    assert s.check_limits(now=MONDAY_10 + timedelta(minutes=6)) == (False, "hourly_limit (2/2)")
    assert s.check_limits(now=MONDAY_10 + timedelta(minutes=61)) == (True, "ok")


def test_daily_limit_message(redis_client: redis.Redis) -> None:
    """Three actions in a day, spread over hours, give "daily_limit (3/3)"."""
    s = make(redis_client, tight())
    for minutes in (0, 70, 140):
        assert s.consume(now=MONDAY_10 + timedelta(minutes=minutes))
    assert s.check_limits(now=MONDAY_10 + timedelta(minutes=141)) == (False, "daily_limit (3/3)")
    assert s.check_limits(now=MONDAY_10 + timedelta(days=1)) == (True, "ok")


def test_weekly_limit_message(redis_client: redis.Redis) -> None:
    """Five actions over two days give "weekly_limit (5/5)" until next Monday."""
    s = make(redis_client, tight())
    for day, minutes in ((0, 0), (0, 70), (0, 140), (1, 0), (1, 70)):
        assert s.consume(now=MONDAY_10 + timedelta(days=day, minutes=minutes))
    assert s.check_limits(now=MONDAY_10 + timedelta(days=2)) == (False, "weekly_limit (5/5)")
    assert s.check_limits(now=MONDAY_10 + timedelta(days=7)) == (True, "ok")


def test_min_gap_message(redis_client: redis.Redis) -> None:
    """Inside the minimum gap check_limits says how long is left (the guard would refuse)."""
    s = make(redis_client, tight(TIMING_MIN_GAP_MINUTES=3))
    assert s.consume(now=MONDAY_10)
    assert s.check_limits(now=MONDAY_10 + timedelta(seconds=60)) == (False, "min_gap (120s left)")
    assert s.check_limits(now=MONDAY_10 + timedelta(minutes=3)) == (True, "ok")


def test_consume_counts_in_every_window(redis_client: redis.Redis) -> None:
    """consume(amount) adds amount to the hourly, daily and weekly counters."""
    s = make(redis_client, tight())
    assert s.consume(2, now=MONDAY_10)
    st = s.status(now=MONDAY_10)
    assert (st["hourly"], st["daily"], st["weekly"]) == (
        {"used": 2, "limit": 2},
        {"used": 2, "limit": 3},
        {"used": 2, "limit": 5},
    )


def test_consume_refused_returns_false(redis_client: redis.Redis) -> None:
    """Past a cap consume returns False and counts nothing more (the seed's cannot fail)."""
    s = make(redis_client, tight())
    assert s.consume(2, now=MONDAY_10)
    assert s.consume(now=MONDAY_10 + timedelta(minutes=1)) is False
    assert s.status(now=MONDAY_10 + timedelta(minutes=1))["daily"]["used"] == 2


def test_consume_rejects_bad_amounts(redis_client: redis.Redis) -> None:
    """A non-positive amount, or several at once under a minimum gap, is a ValueError."""
    s = make(redis_client, tight(TIMING_MIN_GAP_MINUTES=3))
    for bad in (0, -1, True):
        with pytest.raises(ValueError, match="positive integer"):
            s.consume(bad, now=MONDAY_10)
    with pytest.raises(ValueError, match="minimum gap"):
        s.consume(2, now=MONDAY_10)
    assert s.status(now=MONDAY_10)["daily"]["used"] == 0


def test_status_has_the_seed_keys_and_more(redis_client: redis.Redis) -> None:
    """status() answers the seed's keys, plus account, next slot and today's progress."""
    s = make(redis_client, Settings(_env_file=None))
    before = s.status(now=MONDAY_6)
    assert before["plan_exists"] is False and before["plan_week"] is None
    s.generate_weekly_plan(seed_rows(), now=MONDAY_6)
    st = s.status(now=MONDAY_6)
    assert {"daily", "weekly", "hourly", "plan_exists", "plan_week"} <= set(st)
    assert st["daily"] == {"used": 0, "limit": 20}
    assert st["weekly"] == {"used": 0, "limit": 80}
    assert st["hourly"] == {"used": 0, "limit": 6}
    assert (st["plan_exists"], st["plan_week"], st["plan_label"]) == (True, 7, "2026-W07")
    assert st["account"] == "acct"
    assert st["next_slot"] is not None and st["today"]["completed"] == 0


# ---- planning ----------------------------------------------------------------------------


def test_generate_weekly_plan_from_seed_dicts(redis_client: redis.Redis) -> None:
    """Seed-style dicts become a stored plan with one delayed job per slot."""
    s = make(redis_client, Settings(_env_file=None))
    plan = s.generate_weekly_plan(seed_rows(), now=MONDAY_6)
    assert plan.total_budget == 80
    assert s.current_plan(now=MONDAY_6) == plan
    jobs = redis_client.hlen("eng:{acct}:jobs")
    assert jobs == sum(1 for _ in plan.slots())
    again = s.generate_weekly_plan(seed_rows(5), now=MONDAY_6)
    assert again == plan  # a stored week is kept unless force=True


def test_generate_refuses_bad_dicts(redis_client: redis.Redis) -> None:
    """A bad profile dict refuses the whole list, naming the item and the key."""
    s = make(redis_client, Settings(_env_file=None))
    rows = seed_rows(3)
    rows[1]["linkedin_url"] = "not a url"
    with pytest.raises(ProfileDataError, match=r"state_data\[1\]\.linkedin_url"):
        s.generate_weekly_plan(rows, now=MONDAY_6)
    assert s.current_plan(now=MONDAY_6) is None


def test_todays_queue_generates_from_the_loader(redis_client: redis.Redis) -> None:
    """With no plan, get_todays_queue plans the week from profiles_loader first."""
    s = make(redis_client, Settings(_env_file=None), profiles_loader=profiles)
    queue = s.get_todays_queue(now=MONDAY_6)
    plan = s.current_plan(now=MONDAY_6)
    assert plan is not None
    today = plan.days["2026-02-09"].engagements
    assert [e.slot_id for e in queue] == [e.slot_id for e in today]
    assert [e.scheduled_at for e in queue] == sorted(e.scheduled_at for e in queue)
    assert all(e.status is Status.PENDING for e in queue)


def test_todays_queue_for_a_new_week_uses_the_snapshot(redis_client: redis.Redis) -> None:
    """A stale week (last week's plan only) is replaced from the stored profile snapshot."""
    s = make(redis_client, Settings(_env_file=None))
    s.generate_weekly_plan(seed_rows(), now=MONDAY_6)
    next_monday = MONDAY_6 + timedelta(days=7)
    queue = s.get_todays_queue(now=next_monday)
    assert queue and s.status(now=next_monday)["plan_week"] == 8


def test_todays_queue_without_profiles_is_refused(redis_client: redis.Redis) -> None:
    """No plan, no loader and no snapshot: a clear error instead of an empty plan."""
    s = make(redis_client, Settings(_env_file=None))
    with pytest.raises(SchedulerError, match="no profiles"):
        s.get_todays_queue(now=MONDAY_6)


def test_queue_follows_the_server_clock(redis_client: redis.Redis) -> None:
    """Without an explicit now, the queue is that of the server clock's day."""
    s = make(redis_client, Settings(_env_file=None), profiles_loader=profiles)
    s.live.clock.install(MONDAY_6, 1.0)
    queue = s.get_todays_queue()
    assert queue and all(e.slot_id.startswith("acct-20260209-") for e in queue)


# ---- outcomes ----------------------------------------------------------------------------


def test_done_resets_coverage_and_counts(redis_client: redis.Redis) -> None:
    """done: slot done, ledger last_done_at = now, one action in every window."""
    s = make(redis_client, Settings(_env_file=None))
    s.generate_weekly_plan(seed_rows(), now=MONDAY_6)
    slot = first_today(s, MONDAY_6)
    when = slot.scheduled_at
    receipt = s.mark_outcome(slot.linkedin_url, "done", now=when)
    assert (receipt.slot_id, receipt.counted) == (slot.slot_id, True)
    stored = s.live.store.load_slot("acct", slot.slot_id).engagement
    assert (stored.status, stored.attempts, stored.finished_at) == (Status.DONE, 1, when)
    entry = s.live.store.get_ledger("acct")[profile_key(slot.linkedin_url)]
    assert entry.last_done_at == when and entry.last_outcome is Status.DONE
    assert s.status(now=when)["daily"]["used"] == 1
    assert slot.slot_id not in {e.slot_id for e in s.get_todays_queue(now=when)}


@pytest.mark.parametrize("outcome", ["failed", "already_reacted", "no_posts"])
def test_other_outcomes_neither_reset_nor_count(redis_client: redis.Redis, outcome: str) -> None:
    """failed / already_reacted / no_posts: attempted, coverage clock ticking, no count."""
    s = make(redis_client, Settings(_env_file=None))
    s.generate_weekly_plan(seed_rows(), now=MONDAY_6)
    slot = first_today(s, MONDAY_6)
    receipt = s.mark_outcome(slot.linkedin_url, outcome, now=slot.scheduled_at)
    assert (receipt.slot_id, receipt.counted) == (slot.slot_id, False)
    stored = s.live.store.load_slot("acct", slot.slot_id).engagement
    assert (stored.status.value, stored.attempts) == (outcome, 1)
    entry = s.live.store.get_ledger("acct")[profile_key(slot.linkedin_url)]
    assert entry.last_done_at is None
    assert (entry.last_attempt_at, entry.last_outcome.value if entry.last_outcome else None) == (
        slot.scheduled_at,
        outcome,
    )
    st = s.status(now=slot.scheduled_at)
    assert (st["hourly"]["used"], st["daily"]["used"], st["today"]["completed"]) == (0, 0, 1)


def test_skipped_closes_the_slot_only(redis_client: redis.Redis, settings: Settings) -> None:
    """skipped: the slot is closed; the ledger, the caps and the breaker are untouched."""
    s = make(redis_client, settings)
    s.generate_weekly_plan(seed_rows(), now=MONDAY_6)
    slot = first_today(s, MONDAY_6)
    receipt = s.mark_outcome(slot.linkedin_url, Status.SKIPPED, now=slot.scheduled_at)
    assert (receipt.slot_id, receipt.counted) == (slot.slot_id, False)
    assert s.live.store.load_slot("acct", slot.slot_id).engagement.status is Status.SKIPPED
    assert profile_key(slot.linkedin_url) not in s.live.store.get_ledger("acct")
    assert s.status(now=slot.scheduled_at)["today"]["completed"] == 0


def test_non_done_releases_a_slot_reservation(redis_client: redis.Redis) -> None:
    """A claimed slot whose reservation was made gives it back when the outcome is failed."""
    s = make(redis_client, Settings(_env_file=None))
    s.generate_weekly_plan(seed_rows(), now=MONDAY_6)
    slot = first_today(s, MONDAY_6)
    when = slot.scheduled_at
    assert s.live.store.claim_slot("acct", slot.slot_id, when)
    assert Guard(redis_client, s.settings, "acct").reserve(slot.slot_id, when).allowed
    receipt = s.mark_outcome(slot.linkedin_url, "failed", now=when)
    assert receipt.slot_id == slot.slot_id
    assert s.status(now=when)["daily"]["used"] == 0


def test_done_on_a_reserved_slot_counts_once(redis_client: redis.Redis) -> None:
    """done for a slot whose reservation already exists does not count it twice."""
    s = make(redis_client, Settings(_env_file=None))
    s.generate_weekly_plan(seed_rows(), now=MONDAY_6)
    slot = first_today(s, MONDAY_6)
    when = slot.scheduled_at
    assert s.live.store.claim_slot("acct", slot.slot_id, when)
    assert Guard(redis_client, s.settings, "acct").reserve(slot.slot_id, when).allowed
    assert s.mark_outcome(slot.linkedin_url, "done", now=when).counted
    assert s.status(now=when)["daily"]["used"] == 1


def test_unknown_profile_goes_to_the_ledger_only(redis_client: redis.Redis) -> None:
    """An outcome for a profile with no slot today is recorded in the ledger, and said so."""
    s = make(redis_client, Settings(_env_file=None))
    url = "https://example.com/in/stranger"
    receipt = s.mark_outcome(url, "done", now=MONDAY_10)
    assert receipt.slot_id is None and receipt.counted
    assert "ledger only" in receipt.note
    assert s.live.store.get_ledger("acct")[profile_key(url)].last_done_at == MONDAY_10
    assert s.status(now=MONDAY_10)["daily"]["used"] == 1


def test_consume_and_done_of_one_action_count_once(redis_client: redis.Redis) -> None:
    """The seed's engine calls consume() and mark_outcome("done"): one action, in any order."""
    s = make(redis_client, tight(TIMING_MIN_GAP_MINUTES=3))
    url = "https://example.com/in/x"
    assert s.consume(now=MONDAY_10)
    assert s.mark_outcome(url, "done", now=MONDAY_10 + timedelta(seconds=2)).counted
    later = MONDAY_10 + timedelta(minutes=70)
    assert s.mark_outcome(url, "done", now=later).counted
    assert s.consume(now=later + timedelta(seconds=2))
    assert s.status(now=later + timedelta(seconds=3))["daily"]["used"] == 2


def test_pairing_expires(redis_client: redis.Redis) -> None:
    """A consume() and a done further apart than PAIRING_WINDOW are two actions."""
    s = make(redis_client, tight())
    assert s.consume(now=MONDAY_10)
    after = MONDAY_10 + PAIRING_WINDOW + timedelta(seconds=1)
    assert s.mark_outcome("https://example.com/in/x", "done", now=after).counted
    assert s.status(now=after)["daily"]["used"] == 2


def test_bad_outcome_is_refused(redis_client: redis.Redis) -> None:
    """mark_outcome accepts only the seed's outcomes."""
    s = make(redis_client, tight())
    for bad in ("pending", "claimed", "liked"):
        with pytest.raises(ValueError, match="not one of"):
            s.mark_outcome("https://example.com/in/x", bad, now=MONDAY_10)
    assert s.live.store.get_ledger("acct") == {}


def test_without_a_client_it_connects_from_settings(redis_url: str) -> None:
    """With no client= the scheduler connects through planner.embedded (here: REDIS_URL)."""
    s = Scheduler(Settings(_env_file=None, REDIS_URL=redis_url), account="acct")
    assert s.consume(now=MONDAY_10)
    assert s.status(now=MONDAY_10)["daily"]["used"] == 1


# ---- package exports -----------------------------------------------------------------------


def test_aliases_are_exported() -> None:
    """planner.Scheduler and planner.RateLimiter are the drop-in class (seed 5.3)."""
    import planner
    from planner import RateLimiter
    from planner import Scheduler as Exported

    assert Exported is Scheduler and RateLimiter is Scheduler
    assert planner.RateLimiter is Scheduler
    with pytest.raises(AttributeError):
        planner.__getattr__("NoSuchThing")


def test_import_planner_stays_light() -> None:
    """``import planner`` does not load the scheduler (numpy, redis, the service layer)."""
    code = "import sys, planner; print('planner.scheduler' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False"]
