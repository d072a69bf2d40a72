"""The planner's fast paths give exactly what the plain definitions give."""

from __future__ import annotations

import math
import struct
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from pydantic import BaseModel

from config.settings import Settings
from planner import timing
from planner.assignment import NEVER_DAY, NEVER_US, Coverage, LocalCalendar, instants_us, to_us
from planner.ledger import LedgerEntry, LedgerState, advance, record_outcome
from planner.profiles import Profile, _normalise, profile_key
from planner.scoring import FloatArray, IntArray, _required, _top, select_indices
from planner.timing import _first_valid, _grid, _params, _propose, _tables
from planner.week import _busy_today, _copy, build_week, revise, rounded
from planner.weekly_plan import DailySlot, ScheduledEngagement, Status, WeeklyPlan

MONDAY_6 = datetime(2026, 2, 9, 6, 0, tzinfo=UTC)

_URL_CHARS = st.sampled_from(list("aAzZ09.-/_?#:@[] %\tw"))


@hyp_settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.text(_URL_CHARS, max_size=30).map(lambda s: "https://" + s),
        st.text(_URL_CHARS, max_size=30).map(lambda s: "https://www." + s),
        st.text(max_size=40),
    )
)
def test_profile_key_fast_path_matches_urlsplit(url: str) -> None:
    """The regex shortcut and the cache give the key urlsplit gives, for any string."""
    try:
        expected = _normalise(url)
    except ValueError:  # e.g. a port that is not a number: refused either way
        with pytest.raises(ValueError):
            profile_key(url)
        return
    assert profile_key(url) == expected


@pytest.mark.parametrize(
    "zone", ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
)
def test_local_calendar_matches_astimezone(zone: str) -> None:
    """Local dates come out as astimezone() has them, across clock changes, one by one or not."""
    tz = ZoneInfo(zone)
    calendar = LocalCalendar(tz)
    rng = np.random.default_rng(1)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    # Every minute around each 2026 clock change, plus random instants through the year.
    instants = [start + timedelta(days=float(d)) for d in rng.uniform(0, 365, 2000)]
    for month, day in ((3, 8), (3, 29), (4, 5), (10, 4), (10, 25), (11, 1)):
        base = datetime(2026, month, day, tzinfo=UTC) - timedelta(hours=14)
        instants += [base + timedelta(minutes=m) for m in range(0, 36 * 60, 7)]
    us = np.array([to_us(t) for t in instants] + [NEVER_US], dtype=np.int64)
    expected = [t.astimezone(tz).date().toordinal() for t in instants]
    assert calendar.ordinals(us).tolist() == [*expected, NEVER_DAY]
    assert [calendar.ordinal(int(u)) for u in us[:-1]] == expected
    assert calendar.ordinal_list(us[:-1].tolist()) == expected
    # HH:MM from aware instants in UTC and in the zone itself (a UTC calendar reads the
    # fields of UTC instants only).
    clocks = [t.astimezone(tz).strftime("%H:%M") for t in instants]
    assert calendar.hhmm_list(instants) == clocks
    assert calendar.hhmm_list([t.astimezone(tz) for t in instants]) == clocks


def _near_half(whole: int, digits: int, ulps: int) -> float:
    """A half of the last kept decimal place past ``whole`` of it, moved by ``ulps`` ulps."""
    value = (whole + 0.5) / 10**digits
    for _ in range(abs(ulps)):
        value = math.nextafter(value, math.copysign(math.inf, ulps))
    return value


@given(
    st.one_of(
        st.floats(),
        st.builds(_near_half, st.integers(0, 10**7), st.sampled_from([2, 3]), st.integers(-2, 2)),
    ),
    st.integers(0, 9),
)
def test_rounded_is_round(value: float, digits: int) -> None:
    """The shortcut gives round()'s very double: same bits, signed zeros and NaN included."""
    expected = round(value, digits)
    assert struct.pack("<d", rounded(value, digits)) == struct.pack("<d", expected) or (
        math.isnan(expected) and math.isnan(rounded(value, digits))
    )


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from([UTC, ZoneInfo("Europe/Berlin"), ZoneInfo("Asia/Kolkata")]),
    )
)
def test_to_us_is_the_exact_difference_from_the_epoch(instant: datetime) -> None:
    """The UTC fast path (from the fields) and the general one agree with plain arithmetic."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    expected = (instant - epoch) // timedelta(microseconds=1)
    assert to_us(instant) == expected
    assert to_us(instant.astimezone(UTC)) == expected


def test_instants_us_is_exact() -> None:
    """Epoch microseconds are exact integers, whatever zone the instant carries."""
    berlin = ZoneInfo("Europe/Berlin")
    t = datetime(2026, 3, 29, 2, 59, 59, 999_999, tzinfo=UTC)
    got = instants_us([t, t.astimezone(berlin), None])
    assert got.tolist() == [1_774_753_199_999_999, 1_774_753_199_999_999, NEVER_US]


@hyp_settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 6), min_size=1, max_size=400),
    st.integers(1, 40),
)
def test_partial_top_matches_a_full_stable_sort(values: list[int], size: int) -> None:
    """The partition shortcut ranks the best ``size`` like a stable sort of everything."""
    scores = np.array(values, dtype=np.float64)
    rest = np.arange(len(values), dtype=np.int64)
    expected = sorted(range(len(values)), key=lambda i: (-values[i], i))[:size]
    assert _top(rest, scores, size).tolist() == expected


_SETTINGS = Settings(_env_file=None)
_NO_JITTER = Settings(_env_file=None, PRIORITY_JITTER_MAX=0.0)  # ties and zero scores
_DAY = date(2026, 2, 9).toordinal()


def _plain_required(deadlines: list[int], day: int, future: list[int], beyond: int) -> int:
    """Jackson's rule as defined: at every deadline, everyone due by it minus the slots."""
    worst = 0
    for deadline in set(deadlines):
        ahead = deadline - day
        if ahead <= 0:
            slots = 0
        elif ahead <= len(future):
            slots = sum(future[:ahead])
        else:
            slots = sum(future) + beyond * (ahead - len(future))
        worst = max(worst, sum(d <= deadline for d in deadlines) - slots)
    return worst


@hyp_settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(-6, 40), max_size=80),
    st.lists(st.integers(0, 25), max_size=25),
)
def test_required_is_jacksons_rule_at_every_deadline(offsets: list[int], future: list[int]) -> None:
    """Trying every date up to the last deadline gives the excess taken at each deadline."""
    deadlines = [_DAY + o for o in offsets]
    ordered = np.sort(np.array(deadlines, dtype=np.int64))
    got = _required(ordered, _DAY, np.array(future, dtype=np.int64), _SETTINGS)
    beyond = _SETTINGS.WEEKLY_BUDGET_TARGET // 7
    assert got == _plain_required(deadlines, _DAY, future, beyond)


def _plain_selection(
    days: FloatArray,
    deadlines: IntArray,
    budget: int,
    future: list[int],
    rng: np.random.Generator,
    settings: Settings,
) -> tuple[list[int], FloatArray, int, int]:
    """The day's selection as specified, with plain sorts and lists (the same draws)."""
    n = len(days)
    base = np.minimum(days * settings.PRIORITY_DAYS_WEIGHT, settings.PRIORITY_DAYS_CAP)
    scores = base + rng.uniform(0.0, settings.PRIORITY_JITTER_MAX, size=n)
    by_deadline = sorted(range(n), key=lambda i: (deadlines[i], i))
    beyond = settings.WEEKLY_BUDGET_TARGET // 7
    hard_n = _plain_required(deadlines.tolist(), _DAY, future, beyond)
    taken = by_deadline[: min(hard_n, budget)]
    threshold = settings.FORCE_INCLUDE_DAYS_THRESHOLD
    past = [i for i in by_deadline[hard_n:] if days[i] > threshold]
    forced = taken + past[: min(settings.FORCE_INCLUDE_MAX_PER_DAY, budget - len(taken))]
    k = budget - len(forced)
    rest = sorted(set(range(n)) - set(forced), key=lambda i: (-scores[i], i))
    pool = rest[: max(k, settings.SELECTION_POOL_MULTIPLIER * k)] if k > 0 else []
    if len(pool) <= k:
        return forced + pool, scores, len(forced), min(hard_n, n) - len(taken)
    u = rng.random(len(pool))
    weight = np.maximum(scores[pool], 0.0)
    usable = (weight > 0) & (u > 0)
    if usable.all():
        key = np.log(u) / weight
    else:
        key = np.full(len(pool), -np.inf)
        key[usable] = np.log(u[usable]) / weight[usable]
    ranked = sorted(range(len(pool)), key=lambda j: (-key[j], -u[j], pool[j]))
    fill = [pool[j] for j in ranked[:k]]
    return forced + fill, scores, len(forced), min(hard_n, n) - len(taken)


def _assert_selects_plainly(
    days: FloatArray,
    offsets: list[int],
    budget: int,
    future: list[int],
    rngs: tuple[np.random.Generator, np.random.Generator],
    settings: Settings,
) -> None:
    """select_indices and the plain selection agree, draw for draw, from equal generators."""
    deadlines = np.array([_DAY + o for o in offsets], dtype=np.int64)
    rng, plain_rng = rngs
    got = select_indices(
        days,
        deadlines,
        budget,
        day=_DAY,
        future_budgets=np.array(future, dtype=np.int64),
        rng=rng,
        settings=settings,
    )
    order, scores, forced, shortfall = _plain_selection(
        days, deadlines, budget, future, plain_rng, settings
    )
    assert got.order.dtype == np.int64
    assert (got.order.tolist(), got.forced, got.shortfall) == (order, forced, shortfall)
    assert got.scores.tobytes() == scores.tobytes()
    assert rng.bit_generator.state == plain_rng.bit_generator.state


# Rounded: a score of 1e-300 would overflow log(u)/w (a warning either way) and prove nothing.
_DAYS = st.one_of(
    st.floats(-3, 40).map(lambda d: round(d, 3)),
    st.sampled_from([0.0, 12.0, 12.5, 15.0, 40.0, math.inf, -math.inf]),
)


@hyp_settings(max_examples=400, deadline=None)
@given(
    st.lists(st.tuples(_DAYS, st.integers(-4, 25)), max_size=140),
    st.integers(0, 30),
    st.lists(st.integers(0, 60), max_size=20),
    st.integers(0, 2**32 - 1),
    st.sampled_from([_SETTINGS, _NO_JITTER]),
)
def test_select_indices_matches_the_plain_selection(
    candidates: list[tuple[float, int]],
    budget: int,
    future: list[int],
    seed: int,
    settings: Settings,
) -> None:
    """Same picks, scores and counts, and the generator left in the same state."""
    days = np.array([d for d, _ in candidates], dtype=np.float64)
    rngs = (np.random.default_rng(seed), np.random.default_rng(seed))
    _assert_selects_plainly(days, [o for _, o in candidates], budget, future, rngs, settings)


@pytest.mark.parametrize("budget", [6, 9, 16, 45])  # 5 soft-forced, the rest sampled
@pytest.mark.parametrize("settings", [_SETTINGS, _NO_JITTER])
def test_select_indices_matches_the_plain_selection_when_many(
    budget: int, settings: Settings
) -> None:
    """Thousands of candidates: the pool comes from a partial selection, not a full sort."""
    rng = np.random.default_rng(budget)
    days = np.round(rng.uniform(0, 12.9, 3000), 1)  # ties, and nobody due today
    offsets = (14 - np.ceil(days)).astype(int).tolist()
    rngs = (np.random.default_rng(7), np.random.default_rng(7))
    _assert_selects_plainly(days, offsets, budget, [400] * 20, rngs, settings)


def test_a_zero_draw_is_masked_not_logged() -> None:
    """A draw of exactly 0 gets the lowest key, as in the plain selection, and no warning."""
    days = np.linspace(1.0, 11.0, 12)
    draws = np.array([0.5, 0.0, 0.25, 0.75, 0.125, 0.875])
    rngs = (_Replay([draws.copy()]), _Replay([draws.copy()]))
    _assert_selects_plainly(days, [5] * 12, 3, [11] * 14, rngs, _SETTINGS)


def _plain_rows(shape: Any, n: int, first: int) -> np.ndarray:
    """-F[0..n] as the sampler's backward pass defines it, computed for ``n`` alone."""
    rate, span = timing._cells(shape)
    j0 = first // timing.CELL_S
    lo = np.arange(j0, len(span), dtype=np.int64) * timing.CELL_S
    span = span[j0:].copy()
    span[0] -= first - lo[0]
    weight = rate[j0:] * span
    g = max(0, -(-(shape.params.gap_s - (timing.CELL_S - 1)) // timing.CELL_S))
    cells = len(span)
    rows = [np.ones(cells + g + 1)]
    for _ in range(n):
        f = np.zeros(cells + g + 1)
        f[:cells] = np.cumsum((weight * rows[-1][g : g + cells])[::-1])[::-1]
        if f[0] > 0:
            f /= f[0]
        rows.append(f)
    return -np.array(rows)


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
def test_tables_share_rows_whatever_the_order(zone: str) -> None:
    """Days of different sizes read one stack of rows; grown in any order, each size's
    table holds exactly the rows computed for that size alone."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, TIMEZONE=zone, OPERATING_START=time(1, 0), OPERATING_END=time(12, 0)
    )
    _, shape, _ = _grid(date(2026, 3, 29), _params(settings))  # Berlin springs forward
    assert bool(shape.shifts) == (zone != "UTC")
    for order in ([3, 7, 12, 20], [20, 12, 7, 3], [7, 3, 20, 12]):
        _tables.cache_clear()
        timing._STACKS.clear()
        for first in (0, 3_601):
            for n in order:
                tab = _tables(shape, n, first)
                want = _plain_rows(shape, n, first)
                assert tab.neg_f.shape == want.shape
                assert np.array_equal(tab.neg_f, want)
                assert [np.asarray(step).tolist() for step in tab.steps] == want[:0:-1].tolist()
                assert tab.lo[0] == first and not tab.neg_f.flags.writeable


@pytest.mark.parametrize("seed", range(20))
def test_shuffling_a_list_draws_the_permutation(seed: int) -> None:
    """assign_days orders a day's slots by shuffling a list: the same order, and the same
    generator state after, as numpy's permutation of as many."""
    for n in range(30):
        by_permutation, by_shuffle = np.random.default_rng(seed), np.random.default_rng(seed)
        order = list(range(n))
        by_shuffle.shuffle(order)
        assert order == by_permutation.permutation(n).tolist()
        assert by_shuffle.bit_generator.state == by_permutation.bit_generator.state


@pytest.mark.parametrize("n", [1, 5, 12, 20])
def test_first_valid_row_is_the_batch_answer(settings: Settings, n: int) -> None:
    """Walking rows one by one accepts the row the batch sampler would accept first."""
    params = _params(settings)
    _, shape, _ = _grid(date(2026, 2, 9), params)
    tab = _tables(shape, n, 0)
    for seed in range(30):
        draws = np.random.default_rng(seed).random((2, 4, n))
        v, u = draws
        proposals = _propose(_Replay([v, u]), tab, n, 4)
        ok = np.all(np.diff(proposals, axis=1) >= params.gap_s, axis=1)
        if params.hourly < n:
            hourly = proposals[:, params.hourly :] - proposals[:, : -params.hourly]
            ok &= np.all(hourly >= 3600, axis=1)
        want = proposals[int(np.argmax(ok))].tolist() if ok.any() else None
        assert _first_valid(tab, draws, params) == want


class _Replay(np.random.Generator):
    """A generator that hands out given arrays, for replaying one batch's draws."""

    def __init__(self, arrays: list[np.ndarray]) -> None:
        super().__init__(np.random.PCG64(0))
        self._arrays = list(arrays)

    def random(self, *args: object, **kwargs: object) -> np.ndarray:  # type: ignore[override]
        return self._arrays.pop(0)


def test_ledger_state_follows_record_outcome(settings: Settings) -> None:
    """advance() on tuples and record_outcome() on models agree after any outcome sequence."""
    rng = np.random.default_rng(3)
    outcomes = [Status.DONE, Status.FAILED, Status.NO_POSTS, Status.ALREADY_REACTED]
    outcomes += [Status.SKIPPED, Status.UNKNOWN, Status.MISSED]
    entry: LedgerEntry | None = None
    state = LedgerState()
    at = MONDAY_6
    for _ in range(300):
        outcome = outcomes[int(rng.integers(len(outcomes)))]
        at += timedelta(hours=float(rng.uniform(1, 30)))
        entry = record_outcome(entry, outcome, at, settings)
        state = advance(state, outcome, at, settings)
        assert tuple(getattr(entry, name) for name in LedgerState._fields) == tuple(state)


def _profiles(n: int) -> list[Profile]:
    rng = np.random.default_rng(9)
    return [
        Profile(
            linkedin_url=f"https://example.com/in/p{i:03d}",
            name=f"P{i}",
            last_engaged_at=MONDAY_6 - timedelta(days=float(rng.uniform(0, 13))),
        )
        for i in range(n)
    ]


def test_coverage_reads_tuples_and_models_alike(settings: Settings) -> None:
    """A ledger of LedgerState tuples plans exactly like one of LedgerEntry models."""
    profiles = _profiles(40)
    models: dict[str, LedgerEntry] = {}
    tuples: dict[str, LedgerState] = {}
    for i, p in enumerate(profiles[:30]):
        outcome = (Status.DONE, Status.NO_POSTS, Status.FAILED)[i % 3]
        for k in range(1 + i % 4):
            at = MONDAY_6 - timedelta(days=3 - k)
            models[p.key] = record_outcome(models.get(p.key), outcome, at, settings)
            tuples[p.key] = advance(tuples.get(p.key, LedgerState()), outcome, at, settings)
    a, _ = build_week(
        account="t",
        profiles=profiles,
        ledger=models,
        now=MONDAY_6,
        settings=settings,
        rng=np.random.default_rng(1),
    )
    b, _ = build_week(
        account="t",
        profiles=profiles,
        ledger=tuples,
        now=MONDAY_6,
        settings=settings,
        rng=np.random.default_rng(1),
    )
    assert a == b


def test_profile_table_follows_the_list_not_the_cache() -> None:
    """Another list of other profiles is planned from its own data, even with equal URLs."""
    first = _profiles(5)
    later = [p.model_copy(update={"last_engaged_at": MONDAY_6, "active": False}) for p in first]
    a = Coverage.from_ledger(first, {})
    b = Coverage.from_ledger(later, {})
    assert a.active.all() and not b.active.any()
    assert (b.done_us == to_us(MONDAY_6)).all()
    dupes = [*first, first[0].model_copy(update={"name": "again"})]
    assert Coverage.from_ledger(dupes, {}).profiles[first[0].key].name == "again"


def test_through_binds_only_the_days_up_to_it(settings: Settings) -> None:
    """build_week(through=) and revise(through=) bind only up to that day, later days kept."""
    profiles = _profiles(100)
    monday = MONDAY_6.date()
    plan, _ = build_week(
        account="t",
        profiles=profiles,
        ledger={},
        now=MONDAY_6,
        settings=settings,
        rng=np.random.default_rng(2),
        through=monday,
    )
    for key, day in plan.days.items():
        bound = [bool(e.linkedin_url) for e in day.engagements]
        assert all(bound) if key == monday.isoformat() else not any(bound)
    tuesday = MONDAY_6 + timedelta(days=1)
    revised, _ = revise(
        plan,
        profiles=profiles,
        ledger={},
        now=tuesday,
        settings=settings,
        rng=np.random.default_rng(3),
        through=tuesday.date(),
    )
    for key, day in revised.days.items():
        bound = [bool(e.linkedin_url) for e in day.engagements]
        if key == tuesday.date().isoformat():
            assert all(bound)
        elif key > tuesday.date().isoformat():
            assert not any(bound)
            assert day.engagements == plan.days[key].engagements


def test_assembled_slots_equal_validated_models(settings: Settings) -> None:
    """Slots built and re-bound without validation equal validated models, field for field."""
    profiles = _profiles(60)
    plan, _ = build_week(
        account="t",
        profiles=profiles,
        ledger={},
        now=MONDAY_6,
        settings=settings,
        rng=np.random.default_rng(4),
    )
    revised, _ = revise(
        plan,
        profiles=profiles,
        ledger={},
        now=MONDAY_6 + timedelta(days=2),
        settings=settings,
        rng=np.random.default_rng(5),
    )
    for week in (plan, revised):  # the plan and its days, too
        validated_plan = WeeklyPlan.from_json(week.to_json())
        assert week == validated_plan
        assert list(week.__dict__) == list(validated_plan.__dict__)
        assert week.model_dump_json() == validated_plan.model_dump_json()
        for day in week.days.values():
            validated_day = DailySlot(**{k: getattr(day, k) for k in DailySlot.model_fields})
            assert day == validated_day
            assert list(day.__dict__) == list(validated_day.__dict__)
            assert day.model_fields_set == validated_day.model_fields_set
    # What WeeklyPlan(...) with the built plan's arguments would count as set.
    given = {"account", "timezone", "week_start", "week_number", "created_at", "days"}
    assert plan.model_fields_set == given
    for slot in [*plan.slots(), *revised.slots()]:
        validated = ScheduledEngagement(**{k: getattr(slot, k) for k in slot.model_fields_set})
        assert slot == validated
        assert slot.model_dump() == validated.model_dump()
        assert slot.model_fields_set == validated.model_fields_set
        slot.status = Status.DONE  # assignment still validates
        with pytest.raises(ValueError):
            slot.index = -1


def _week_of_30(settings: Settings, *, seed: int) -> WeeklyPlan:
    """Account "t"'s week from Monday 06:00 for 30 profiles, nobody engaged before."""
    plan, _ = build_week(
        account="t",
        profiles=_profiles(30),
        ledger={},
        now=MONDAY_6,
        settings=settings,
        rng=np.random.default_rng(seed),
    )
    return plan


def test_copies_equal_model_copy(settings: Settings) -> None:
    """revise's plan and day copies are what model_copy(update=...) gives, set fields too."""
    plan = _week_of_30(settings, seed=6)
    day = next(iter(plan.days.values()))
    updates: list[tuple[BaseModel, dict[str, Any]]] = [
        (day, {"engagements": day.engagements[:1]}),
        (plan, {"revision": plan.revision + 1, "days": dict(plan.days)}),
    ]
    for model, update in updates:
        fast, slow = _copy(model, update), model.model_copy(update=update)  # type: ignore[type-var]
        assert type(fast) is type(slow)
        assert list(fast.__dict__.items()) == list(slow.__dict__.items())  # key order too
        assert fast.model_fields_set == slow.model_fields_set
        assert fast.__pydantic_extra__ == slow.__pydantic_extra__
        assert fast.__pydantic_private__ == slow.__pydantic_private__
        assert fast.model_fields_set is not model.model_fields_set  # not shared: marked later


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "Asia/Kolkata"])
def test_slot_times_are_local_clock_times(zone: str) -> None:
    """Each new slot's HH:MM is its instant's local clock time (UTC: without a zone lookup)."""
    settings = Settings(_env_file=None, TIMEZONE=zone)  # type: ignore[call-arg]
    slots = list(_week_of_30(settings, seed=7).slots())
    assert slots
    for slot in slots:
        assert slot.scheduled_time == slot.scheduled_at.astimezone(ZoneInfo(zone)).strftime("%H:%M")
        assert (
            slot.slot_id
            == f"t-{slot.scheduled_at.astimezone(ZoneInfo(zone)):%Y%m%d}-{slot.index:03d}"
        )


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "Pacific/Kiritimati", "Pacific/Niue"])
def test_busy_today_is_who_ran_on_the_local_date(zone: str) -> None:
    """Who ran on local date ``today`` is what astimezone() says, in UTC without a lookup."""
    tz = ZoneInfo(zone)
    profiles = _profiles(40)
    coverage = Coverage.from_ledger(profiles, {}, tz)
    today = date(2026, 2, 11)
    rng = np.random.default_rng(8)
    base = datetime(2026, 2, 11, tzinfo=UTC)
    executed = [
        ScheduledEngagement(
            slot_id=f"t-{i}",
            index=i,
            linkedin_url=p.linkedin_url if i % 7 else "",
            name=p.name,
            scheduled_time="00:00",
            scheduled_at=base + timedelta(minutes=float(rng.integers(-50 * 60, 74 * 60))),
            priority_score=0.0,
            days_since_last_like=0.0,
            forced=False,
            status=Status.DONE,
        )
        for i, p in enumerate(profiles)
    ]
    expected = {
        profile_key(e.linkedin_url)
        for e in executed
        if e.linkedin_url and e.scheduled_at.astimezone(tz).date() == today
    }
    assert expected
    assert _busy_today(executed, today, coverage) == expected
