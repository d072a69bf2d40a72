"""The slot run on a real Redis: claim, lateness, guard, handler, outcome, breaker (I1-I4)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import redis

from config.settings import Settings
from planner import breaker
from planner.guard import Guard
from planner.profiles import Profile
from planner.service import Live, generate, recover_stale_claims
from planner.store import SlotBinding
from planner.weekly_plan import ScheduledEngagement, Status, WeeklyPlan
from tests.round_trips import HANDSHAKE
from worker.execute import execute_slot
from worker.handlers import EngagementRequest, HandlerResult

MONDAY_6 = datetime(2026, 2, 9, 6, 0, tzinfo=UTC)


class CountingHandler:
    """A handler that records every call and answers from a script (default: done)."""

    def __init__(self, outcomes: list[Status] | None = None) -> None:
        self.calls: list[str] = []
        self.outcomes = outcomes or []

    def __call__(self, request: EngagementRequest) -> HandlerResult:
        self.calls.append(request.slot_id)
        outcome = self.outcomes.pop(0) if self.outcomes else Status.DONE
        return HandlerResult(outcome, "scripted")


@pytest.fixture(params=["rq-scheduler", "rq"])
def live(request: pytest.FixtureRequest, redis_client: redis.Redis) -> Iterator[Live]:
    """An account on the test server, once per delayed-job backend."""
    settings = Settings(_env_file=None, SCHEDULER_BACKEND=request.param)  # type: ignore[call-arg]
    yield Live.connect(redis_client, settings, "acct")


def at(live: Live, instant: datetime) -> None:
    """Travel: from now on the server clock reads ``instant`` (and runs at real speed)."""
    live.clock.install(instant, 1.0)


def profiles(n: int = 40) -> list[Profile]:
    return [
        Profile(
            linkedin_url=f"https://example.com/in/p{i}",
            name=f"P{i}",
            last_engaged_at=MONDAY_6 - timedelta(days=i % 12),
        )
        for i in range(n)
    ]


def stored_week(live: Live) -> WeeklyPlan:
    at(live, MONDAY_6)
    outcome = generate(live, profiles(), now=MONDAY_6, rng=np.random.default_rng(1))
    assert outcome.action == "created"
    return outcome.plan


def first_slot(plan: WeeklyPlan) -> ScheduledEngagement:
    return plan.days["2026-02-09"].engagements[0]


def run(live: Live, handler: CountingHandler, slot_id: str, when: datetime) -> str:
    at(live, when)
    return execute_slot(live, handler, np.random.default_rng(2), slot_id).status


def test_slot_runs_once_at_its_time(live: Live) -> None:
    """On time, the handler runs once and the outcome reaches the slot and the ledger."""
    slot = first_slot(stored_week(live))
    handler = CountingHandler()
    assert run(live, handler, slot.slot_id, slot.scheduled_at) == "done"
    assert run(live, handler, slot.slot_id, slot.scheduled_at) == "ignored"
    assert handler.calls == [slot.slot_id]
    stored = live.store.load_slot("acct", slot.slot_id).engagement
    assert stored.status is Status.DONE and stored.finished_at is not None
    ledger = live.store.get_ledger("acct")
    assert ledger["https://example.com/in/" + slot.linkedin_url.rsplit("/", 1)[1]].last_done_at


def test_generate_twice_changes_nothing_and_duplicates_no_job(live: Live) -> None:
    """A second generate-week for a stored week keeps it and schedules no second job."""
    plan = stored_week(live)
    again = generate(live, profiles(), now=MONDAY_6, rng=np.random.default_rng(9))
    assert again.action == "exists" and again.scheduled == 0
    assert again.plan.to_json() == plan.to_json()


def test_late_slot_is_retimed_into_the_rest_of_its_day(live: Live) -> None:
    """Past the tolerance, the slot moves later in the same window and gets a new job."""
    slot = first_slot(stored_week(live))
    late = slot.scheduled_at + timedelta(minutes=live.settings.LATE_TOLERANCE_MINUTES + 1)
    handler = CountingHandler()
    assert run(live, handler, slot.slot_id, late) == "rescheduled"
    moved = live.store.load_slot("acct", slot.slot_id).engagement
    assert moved.status is Status.PENDING and moved.scheduled_at > late
    assert handler.calls == []
    assert live.queue.scheduled_at(f"{slot.slot_id}-r1") is not None


def test_slot_found_after_its_window_is_missed(live: Live) -> None:
    """A job delivered after the day's window has closed is missed, never run (I4)."""
    slot = first_slot(stored_week(live))
    handler = CountingHandler()
    assert run(live, handler, slot.slot_id, datetime(2026, 2, 9, 19, 0, tzinfo=UTC)) == "missed"
    assert handler.calls == []


def test_guard_refusal_retries_after_the_gap(live: Live) -> None:
    """Two slots due in the same minute: the second is refused by the gap and re-timed."""
    plan = stored_week(live)
    a, b = plan.days["2026-02-09"].engagements[:2]
    handler = CountingHandler()
    assert run(live, handler, a.slot_id, a.scheduled_at) == "done"
    close = a.scheduled_at + timedelta(seconds=30)
    assert live.store.reschedule_slot("acct", b.slot_id, close, f"{close:%H:%M}")
    assert run(live, handler, b.slot_id, close) == "rescheduled"
    moved = live.store.load_slot("acct", b.slot_id).engagement
    gap = timedelta(minutes=live.settings.TIMING_MIN_GAP_MINUTES)
    assert moved.scheduled_at >= a.scheduled_at + gap
    assert handler.calls == [a.slot_id]


def test_non_done_outcome_releases_the_reservation(live: Live) -> None:
    """A failed action gives its place in the caps back; a done one keeps it."""
    plan = stored_week(live)
    a, b = plan.days["2026-02-09"].engagements[:2]
    run(live, CountingHandler([Status.FAILED]), a.slot_id, a.scheduled_at)
    from planner.guard import Guard

    usage = Guard(live.client, live.settings, "acct").usage(a.scheduled_at)
    assert usage["daily"]["used"] == 0
    run(live, CountingHandler(), b.slot_id, b.scheduled_at)
    assert Guard(live.client, live.settings, "acct").usage(b.scheduled_at)["daily"]["used"] == 1


def test_breaker_pauses_the_day_and_resume_lifts_it(live: Live) -> None:
    """BREAKER_THRESHOLD failures in a row skip the rest of the day until resume."""
    plan = stored_week(live)
    slots = plan.days["2026-02-09"].engagements
    threshold = live.settings.BREAKER_THRESHOLD
    handler = CountingHandler([Status.FAILED] * threshold)
    for s in slots[:threshold]:
        assert run(live, handler, s.slot_id, s.scheduled_at) == "failed"
    nxt = slots[threshold]
    assert breaker.is_paused(live.client, "acct", nxt.scheduled_at.date())
    assert run(live, handler, nxt.slot_id, nxt.scheduled_at) == "skipped"
    assert live.store.load_slot("acct", nxt.slot_id).engagement.reason.startswith("circuit")
    assert breaker.resume(live.client, "acct")
    after = slots[threshold + 1]
    assert run(live, handler, after.slot_id, after.scheduled_at) == "done"


def test_crashed_claim_becomes_unknown_and_is_never_rerun(live: Live) -> None:
    """A slot left claimed with no live job is reported unknown and not run again (I3)."""
    slot = first_slot(stored_week(live))
    assert live.store.claim_slot("acct", slot.slot_id, slot.scheduled_at)
    live.queue.cancel([slot.slot_id])  # the job is gone, as after a worker was killed
    plan = live.store.load_week("acct", slot.scheduled_at.date())
    assert plan is not None
    assert recover_stale_claims(live, plan, slot.scheduled_at) == [slot.slot_id]
    handler = CountingHandler()
    assert run(live, handler, slot.slot_id, slot.scheduled_at) == "ignored"
    assert handler.calls == []
    assert live.store.load_slot("acct", slot.slot_id).engagement.status is Status.UNKNOWN


def test_force_replace_keeps_executed_slots_and_cancels_open_jobs(live: Live) -> None:
    """Replacing a week keeps what already ran and leaves no job of the old open slots."""
    plan = stored_week(live)
    done = first_slot(plan)
    run(live, CountingHandler(), done.slot_id, done.scheduled_at)
    at(live, done.scheduled_at + timedelta(minutes=1))
    now = done.scheduled_at + timedelta(minutes=1)
    outcome = generate(live, profiles(), now=now, rng=np.random.default_rng(3), force=True)
    assert outcome.action == "replaced" and outcome.cancelled > 0
    kept = outcome.plan.slot(done.slot_id)
    assert kept.status is Status.DONE
    old_open = [s.slot_id for s in plan.slots() if s.slot_id != done.slot_id]
    new_ids = {s.slot_id for s in outcome.plan.slots()}
    for slot_id in old_open:
        if slot_id not in new_ids:
            assert live.queue.scheduled_at(slot_id) is None
    assert all(s.scheduled_at > now for s in outcome.plan.slots() if s.is_open)


def test_stale_binding_never_engages_on_consecutive_days(live: Live) -> None:
    """A slot whose profile was done yesterday (after the binding) is skipped at run time (I5)."""
    from planner.ledger import record_outcome
    from planner.profiles import profile_key

    plan = stored_week(live)
    slot = plan.days["2026-02-10"].engagements[0]
    key = profile_key(slot.linkedin_url)
    yesterday = datetime(2026, 2, 9, 16, 0, tzinfo=UTC)
    live.store.put_ledger_entry(
        "acct", key, record_outcome(None, Status.DONE, yesterday, live.settings)
    )
    handler = CountingHandler()
    assert run(live, handler, slot.slot_id, slot.scheduled_at) == "skipped"
    assert handler.calls == []


class InFlightHandler(CountingHandler):
    """A handler that, while its action is in flight, lets ``meanwhile`` happen."""

    def __init__(self, outcome: Status, meanwhile: Callable[[], None]) -> None:
        super().__init__([outcome])
        self.meanwhile = meanwhile

    def __call__(self, request: EngagementRequest) -> HandlerResult:
        self.meanwhile()
        return super().__call__(request)


@pytest.mark.parametrize(("first", "then"), [(Status.DONE, "skipped"), (Status.FAILED, "done")])
def test_next_day_slot_waits_for_the_profile_in_flight(
    live: Live, first: Status, then: str
) -> None:
    """Monday's action of a profile in flight: Tuesday's slot of it is re-timed, not run (I5).

    Once Monday's action ends, the re-timed Tuesday slot runs by the ledger rule: skipped
    after a success, run after a failure.
    """
    plan = stored_week(live)
    monday = first_slot(plan)
    tuesday = plan.days["2026-02-10"].engagements[0]
    binding = SlotBinding(monday.linkedin_url, monday.name, 1.0, 2.0, False)
    assert live.store.rebind_open_slots("acct", plan.week_start, {tuesday.slot_id: binding})
    inner = CountingHandler()
    seen: list[str] = []

    def tuesday_starts() -> None:
        seen.append(run(live, inner, tuesday.slot_id, tuesday.scheduled_at))

    assert run(live, InFlightHandler(first, tuesday_starts), monday.slot_id, monday.scheduled_at)
    assert seen == ["rescheduled"] and inner.calls == []
    moved = live.store.load_slot("acct", tuesday.slot_id).engagement
    assert moved.status is Status.PENDING and moved.scheduled_at > tuesday.scheduled_at
    assert live.queue.scheduled_at(f"{tuesday.slot_id}-r1") is not None
    assert run(live, inner, tuesday.slot_id, moved.scheduled_at) == then
    assert inner.calls == ([tuesday.slot_id] if then == "done" else [])


def test_happy_path_takes_two_round_trips(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    """A slot run to done costs two Redis round trips: start (read the clock, claim,
    reserve) and outcome."""
    from redis.connection import Connection

    plan = stored_week(live)
    warm, measured = plan.days["2026-02-09"].engagements[:2]
    handler = CountingHandler()
    assert run(live, handler, warm.slot_id, warm.scheduled_at) == "done"  # loads the scripts
    at(live, measured.scheduled_at)
    sends: list[object] = []
    original = Connection.send_packed_command

    def counting(self: Connection, command: object, check_health: bool = True) -> None:
        packed = command if isinstance(command, bytes) else b"".join(command[:1])  # type: ignore[index]
        if packed.split(b"\r\n")[2].upper() not in HANDSHAKE:  # a new connection's, once
            sends.append(command)
        original(self, command, check_health)

    monkeypatch.setattr(Connection, "send_packed_command", counting)
    guard = Guard(live.client, live.settings, "acct")
    result = execute_slot(live, handler, np.random.default_rng(2), measured.slot_id, guard=guard)
    monkeypatch.undo()
    assert result.status == "done"
    assert len(sends) == 2
