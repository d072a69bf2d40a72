"""Week assembly and revise: the late-binding contract on plain data."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from config.settings import Settings
from planner import assignment
from planner.assignment import Coverage, instants_us, to_us
from planner.ledger import LedgerEntry, LedgerState, record_outcome
from planner.profiles import Profile
from planner.week import build_week, remaining_target, revise
from planner.weekly_plan import ScheduledEngagement, Status, WeeklyPlan, slot_id_for

MONDAY_6 = datetime(2026, 2, 9, 6, 0, tzinfo=UTC)


def make_profiles(n: int, now: datetime, rng: np.random.Generator) -> list[Profile]:
    return [
        Profile(
            linkedin_url=f"https://example.com/in/p{i}",
            name=f"P{i}",
            last_engaged_at=now - timedelta(days=float(rng.uniform(0, 13))),
        )
        for i in range(n)
    ]


def week(settings: Settings, seed: int = 1, now: datetime = MONDAY_6, n: int = 100) -> WeeklyPlan:
    rng = np.random.default_rng(seed)
    profiles = make_profiles(n, now, np.random.default_rng(99))
    plan, _ = build_week(
        account="t", profiles=profiles, ledger={}, now=now, settings=settings, rng=rng
    )
    return plan


def test_full_week_budgets_sum_to_target(settings: Settings) -> None:
    """A week planned before Monday's window has 7 days whose budgets sum to the target (I6)."""
    plan = week(settings)
    assert len(plan.days) == 7
    assert plan.total_budget == settings.WEEKLY_BUDGET_TARGET
    for day in plan.days.values():
        assert settings.DAILY_BUDGET_MIN <= day.budget <= settings.daily_cap
        assert len(day.engagements) == day.budget


def test_slots_respect_gap_hours_and_hourly_cap(settings: Settings) -> None:
    """Every slot is inside the window, gaps hold, no 60 minutes hold more than the cap."""
    plan = week(settings)
    times = sorted(e.scheduled_at for e in plan.slots())
    gap = timedelta(minutes=settings.TIMING_MIN_GAP_MINUTES)
    assert all(b - a >= gap for a, b in itertools.pairwise(times))
    h = settings.HOURLY_LIMIT
    assert all(times[i] - times[i - h] >= timedelta(hours=1) for i in range(h, len(times)))
    for t in times:
        assert settings.OPERATING_START <= t.astimezone(settings.tz).time() < settings.OPERATING_END


def test_no_profile_twice_a_day_nor_on_consecutive_days(settings: Settings) -> None:
    """Forward projection: a profile planned on day d is not planned on d or d+1 again (I5)."""
    plan = week(settings)
    by_day = {
        d.date: [e.linkedin_url for e in d.engagements if e.linkedin_url]
        for d in plan.days.values()
    }
    for day, urls in by_day.items():
        assert len(urls) == len(set(urls))
        tomorrow = by_day.get(day + timedelta(days=1), [])
        assert not set(urls) & set(tomorrow)


def test_same_seed_same_plan(settings: Settings) -> None:
    """The pure core is reproducible: same inputs and seed, same plan (I8)."""
    assert week(settings, seed=5).to_json() == week(settings, seed=5).to_json()
    assert week(settings, seed=5).to_json() != week(settings, seed=6).to_json()


def test_midweek_start_is_prorated(settings: Settings) -> None:
    """Started on Thursday morning, only Thursday..Sunday are planned, with 4/7 of the target."""
    plan = week(settings, now=datetime(2026, 2, 12, 6, 0, tzinfo=UTC))
    assert sorted(plan.days) == ["2026-02-12", "2026-02-13", "2026-02-14", "2026-02-15"]
    assert plan.total_budget == round(80 * 4 / 7)


def test_started_late_in_the_day_keeps_slots_ahead_of_now(settings: Settings) -> None:
    """Planned at 15:00, today's slots all lie after now."""
    now = datetime(2026, 2, 10, 15, 0, tzinfo=UTC)
    plan = week(settings, now=now)
    today = plan.days["2026-02-10"]
    assert today.engagements
    assert all(e.scheduled_at > now for e in today.engagements)


@pytest.mark.parametrize(
    ("n_days", "used", "expected"), [(7, 0, 80), (4, 0, 46), (4, 50, 30), (1, 80, 0)]
)
def test_remaining_target(settings: Settings, n_days: int, used: int, expected: int) -> None:
    """The target is pro-rated to the days left and never exceeds what the week has left."""
    assert remaining_target(n_days, used, settings) == expected


def _execute_today(
    plan: WeeklyPlan,
    day: str,
    outcome: Status,
    ledger: dict[str, LedgerEntry],
    settings: Settings,
    count: int,
) -> None:
    from planner.profiles import profile_key

    for e in plan.days[day].engagements[:count]:
        e.status = outcome
        key = profile_key(e.linkedin_url)
        ledger[key] = record_outcome(ledger.get(key), outcome, e.scheduled_at, settings)


def test_revise_never_touches_executed_slots(settings: Settings) -> None:
    """Executed slots keep their profile and status; only pending ones are re-bound."""
    plan = week(settings)
    ledger: dict[str, LedgerEntry] = {}
    _execute_today(plan, "2026-02-09", Status.FAILED, ledger, settings, 3)
    before = [e.model_copy() for e in plan.days["2026-02-09"].engagements[:3]]
    profiles = make_profiles(100, MONDAY_6, np.random.default_rng(99))
    revised, _ = revise(
        plan,
        profiles=profiles,
        ledger=ledger,
        now=datetime(2026, 2, 9, 12, tzinfo=UTC),
        settings=settings,
        rng=np.random.default_rng(3),
    )
    assert revised.days["2026-02-09"].engagements[:3] == before
    assert revised.revision == plan.revision + 1
    assert [e.scheduled_at for e in revised.slots()] == [e.scheduled_at for e in plan.slots()]


def test_revise_retries_a_failed_profile_on_a_later_day(settings: Settings) -> None:
    """A failed Monday attempt is not repeated Monday, and may be picked again Tuesday."""
    plan = week(settings)
    ledger: dict[str, LedgerEntry] = {}
    first = plan.days["2026-02-09"].engagements[0]
    _execute_today(plan, "2026-02-09", Status.FAILED, ledger, settings, 1)
    profiles = make_profiles(100, MONDAY_6, np.random.default_rng(99))
    revised, _ = revise(
        plan,
        profiles=profiles,
        ledger=ledger,
        now=datetime(2026, 2, 9, 10, tzinfo=UTC),
        settings=settings,
        rng=np.random.default_rng(3),
    )
    monday = [e.linkedin_url for e in revised.days["2026-02-09"].engagements[1:]]
    assert first.linkedin_url not in monday


def test_revise_respects_yesterdays_success(settings: Settings) -> None:
    """A profile done yesterday is not re-bound to any slot today (I5)."""
    plan = week(settings)
    ledger: dict[str, LedgerEntry] = {}
    _execute_today(plan, "2026-02-09", Status.DONE, ledger, settings, 20)
    done = {e.linkedin_url for e in plan.days["2026-02-09"].engagements if e.status is Status.DONE}
    profiles = make_profiles(100, MONDAY_6, np.random.default_rng(99))
    revised, _ = revise(
        plan,
        profiles=profiles,
        ledger=ledger,
        now=datetime(2026, 2, 10, 6, tzinfo=UTC),
        settings=settings,
        rng=np.random.default_rng(4),
    )
    tuesday = {e.linkedin_url for e in revised.days["2026-02-10"].engagements}
    assert not done & tuesday


def test_revise_counts_what_is_in_flight_from_an_earlier_day(settings: Settings) -> None:
    """Monday's slots still claimed on Tuesday (in flight, not in the ledger) count as engaged
    Monday: nobody of them is bound Tuesday. A Monday slot that ran on Tuesday (late) makes
    its profile busy Tuesday."""
    plan = week(settings)
    monday = plan.days["2026-02-09"].engagements
    in_flight = {e.linkedin_url for e in monday[:8]}
    for e in monday[:8]:
        e.status = Status.CLAIMED
    late = monday[8]
    late.status, late.scheduled_at = Status.FAILED, datetime(2026, 2, 10, 5, 59, tzinfo=UTC)
    profiles = make_profiles(100, MONDAY_6, np.random.default_rng(99))
    for seed in range(5):
        revised, _ = revise(
            plan,
            profiles=profiles,
            ledger={},
            now=datetime(2026, 2, 10, 6, tzinfo=UTC),
            settings=settings,
            rng=np.random.default_rng(seed),
        )
        tuesday = {e.linkedin_url for e in revised.days["2026-02-10"].engagements}
        assert not in_flight & tuesday
        assert late.linkedin_url not in tuesday


def test_cooldown_profiles_are_reported_not_planned(settings: Settings) -> None:
    """Profiles that keep answering no_posts cool down: reported, not planned until it ends."""
    profiles = make_profiles(30, MONDAY_6, np.random.default_rng(1))
    ledger: dict[str, LedgerEntry] = {}
    cold = profiles[0].key
    for k in range(settings.UNREACHABLE_AFTER_ATTEMPTS):
        ledger[cold] = record_outcome(
            ledger.get(cold), Status.NO_POSTS, MONDAY_6 - timedelta(days=3 - k), settings
        )
    plan, report = build_week(
        account="t",
        profiles=profiles,
        ledger=ledger,
        now=MONDAY_6,
        settings=settings,
        rng=np.random.default_rng(2),
    )
    assert cold in report.unreachable
    until = ledger[cold].cooldown_until
    assert until is not None
    during = {e.linkedin_url for e in plan.slots() if e.scheduled_at < until}
    assert profiles[0].linkedin_url not in during


def test_infeasible_setup_is_reported_with_numbers(settings: Settings) -> None:
    """200 overdue profiles at 80 a week: the report says how short the budget is."""
    profiles = [
        Profile(linkedin_url=f"https://example.com/in/x{i}", name=f"X{i}") for i in range(200)
    ]
    _, report = build_week(
        account="t",
        profiles=profiles,
        ledger={},
        now=MONDAY_6,
        settings=settings,
        rng=np.random.default_rng(2),
    )
    assert report.feasibility is not None and not report.feasibility.feasible
    assert "200" in report.feasibility.message
    assert report.shortfall > 0


@pytest.mark.parametrize(
    ("tz", "monday"),
    [
        ("Europe/Berlin", date(2026, 3, 23)),
        ("Europe/Berlin", date(2026, 10, 19)),
        ("America/New_York", date(2026, 3, 2)),
        ("America/New_York", date(2026, 10, 26)),
    ],
)
def test_dst_weeks_keep_local_hours(tz: str, monday: date) -> None:
    """On weeks with a clock change every slot still lies inside local operating hours (I4)."""
    s = Settings(_env_file=None, TIMEZONE=tz)  # type: ignore[call-arg]
    now = datetime.combine(monday, datetime.min.time(), tzinfo=s.tz).astimezone(UTC)
    plan = week(s, now=now)
    assert len(plan.days) == 7
    for day in plan.days.values():
        for index, e in enumerate(day.engagements):
            local = e.scheduled_at.astimezone(s.tz)
            assert s.OPERATING_START <= local.time() < s.OPERATING_END
            assert e.scheduled_time == f"{local:%H:%M}"
            assert (e.index, e.slot_id) == (index, slot_id_for(plan.account, day.date, index))


@hyp_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    target=st.integers(35, 120),
    hourly=st.integers(3, 10),
    seed=st.integers(0, 2**32 - 1),
)
def test_budget_invariants_hold_across_settings(target: int, hourly: int, seed: int) -> None:
    """I6 across random valid settings: sum exact, each day in bounds, no hour over the cap."""
    s = Settings(  # type: ignore[call-arg]
        _env_file=None,
        WEEKLY_BUDGET_TARGET=target,
        WEEKLY_LIMIT=max(target, 80),
        HOURLY_LIMIT=hourly,
        DAILY_BUDGET_MAX=min(20, hourly * 9),
        DAILY_LIMIT=20,
    )
    plan = week(s, seed=seed, n=60)
    assert plan.total_budget == target
    counts = Counter(e.scheduled_at.astimezone(s.tz).date() for e in plan.slots())
    for day in plan.days.values():
        assert s.DAILY_BUDGET_MIN <= day.budget <= s.daily_cap
        assert counts[day.date] == day.budget
    times = sorted(e.scheduled_at for e in plan.slots())
    assert all(
        times[i] - times[i - hourly] >= timedelta(hours=1) for i in range(hourly, len(times))
    )


def test_epoch_microseconds_are_exact_in_any_zone() -> None:
    """Remembered conversions never answer for another instant: not across zones, not for
    the repeated hour of a clock change (equal wall times, different instants)."""
    berlin = ZoneInfo("Europe/Berlin")
    first = datetime(2026, 10, 25, 2, 30, tzinfo=berlin)  # CEST, before clocks go back
    second = first.replace(fold=1)  # CET, an hour later
    instants = [first, second, first.astimezone(UTC), second.astimezone(UTC), None]
    expected = [
        (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) for t in instants[:4]
    ]
    for _ in range(2):  # the second pass answers from what the first remembered
        assert [to_us(t) for t in instants[:4]] == expected
        assert instants_us(instants).tolist() == [*expected, np.iinfo(np.int64).min]
    assert expected[1] - expected[0] == 3_600_000_000


def test_built_slots_keep_the_field_order_of_validated_ones(settings: Settings) -> None:
    """Slots assembled without validation store their fields in declaration order, as a
    validated slot does (repr and iteration follow it)."""
    plan, _ = build_week(
        account="t",
        profiles=make_profiles(30, MONDAY_6, np.random.default_rng(9)),
        ledger={},
        now=MONDAY_6,
        settings=settings,
        rng=np.random.default_rng(2),
        through=MONDAY_6.date(),  # later days keep unbound slots
    )
    bound = next(e for e in plan.slots() if e.linkedin_url)
    unbound = next(e for e in plan.slots() if not e.linkedin_url)
    for slot in (bound, unbound):
        validated = ScheduledEngagement(**{k: getattr(slot, k) for k in slot.model_fields_set})
        assert (
            list(slot.__dict__)
            == list(validated.__dict__)
            == list(ScheduledEngagement.model_fields)
        )


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Kiritimati"])
def test_coverage_reads_a_changed_ledger_exactly(zone: str) -> None:
    """Reading a ledger again after entries were added, replaced, removed or (for entry
    types that allow it) changed in place gives what a first read gives."""

    @dataclass
    class Mutable:  # a LedgerView that can change in place
        last_done_at: datetime | None
        cooldown_until: datetime | None = None

    profiles = make_profiles(6, MONDAY_6, np.random.default_rng(1))
    keys = [p.key for p in profiles]
    at = [MONDAY_6 - timedelta(days=d) for d in range(6)]

    def check(ledger: dict[str, Any]) -> None:
        remembered = Coverage.from_ledger(profiles, ledger, ZoneInfo(zone))
        assignment._LAST_READ.clear()
        fresh = Coverage.from_ledger(profiles, ledger, ZoneInfo(zone))
        assert remembered.done_us.tolist() == fresh.done_us.tolist()
        assert remembered.done_day.tolist() == fresh.done_day.tolist()
        assert remembered.cooldown_us.tolist() == fresh.cooldown_us.tolist()

    ledger: dict[str, Any] = {keys[0]: LedgerState(at[1]), keys[1]: LedgerEntry(last_done_at=at[2])}
    check(ledger)
    ledger[keys[2]] = LedgerState(at[0], cooldown_until=at[0] + timedelta(days=9))  # added
    check(ledger)
    ledger[keys[0]] = LedgerState(at[0])  # replaced
    check(ledger)
    ledger[keys[0]] = LedgerState(at[0], cooldown_until=at[0])  # the same success, cooling
    check(ledger)
    ledger[keys[0]] = LedgerState(None)  # no success: the source's last engagement counts
    check(ledger)
    ledger[keys[4]] = LedgerState(at[5] - timedelta(days=30))  # older than the source's
    check(ledger)
    del ledger[keys[1]]  # removed
    check(ledger)
    ledger["https://example.com/in/unknown"] = LedgerState(at[3])  # not a profile
    check(ledger)
    mutable = Mutable(at[4])
    ledger[keys[3]] = mutable
    check(ledger)
    mutable.last_done_at = at[0]  # changed in place: never taken from memory
    check(ledger)
    ledger[keys[3]] = LedgerState(at[4])  # immutable again: remembered
    check(ledger)
    del ledger[keys[0]]
    ledger[keys[0]] = LedgerState(at[0])  # back, now last in the ledger's order
    check(ledger)
    ledger[keys[5]] = ledger.pop(keys[0])  # the same entries in the same order, one key new
    check(ledger)
