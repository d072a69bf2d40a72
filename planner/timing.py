"""Intra-day timing: when each of a day's actions happens (seed section 4.3, done right).

The law: the non-homogeneous Poisson process with the settings' piecewise rate, read at
each instant's *local clock time* (so DST days are right), conditioned on ``n`` points, on
a minimum gap between neighbours and on at most HOURLY_LIMIT points in any 60 minutes.
Times are whole seconds inside the operating window.

Exact sampling (DESIGN.md, "Algorithms: facts checked numerically"): the window is cut
into 15-second cells of real elapsed time, weighted by rate x usable length; a point's
second is uniform inside its cell. A backward pass ``F[k][j]`` (weight of ``k`` points at
cells ``>= j``, cell gaps ``>= G``) costs one reverse cumulative sum per ``k``; a
left-to-right pass draws the cells. ``G`` is the smallest cell gap that *can* hold the gap
in seconds; proposals whose seconds break the gap or the hourly cap are rejected. Every
valid schedule has exactly one proposal, of weight proportional to its target weight, so
what is accepted follows the exact conditional law.

Rejection is bounded (MAX_ATTEMPTS proposals, drawn in growing batches). Beyond that an
approximate sequential sampler draws each point from the rate restricted to the positions
from which the rest still fit (below the latest feasible schedule). It never fails when
``n <= capacity``; it only triggers in extreme settings (``n`` at or near capacity).

The seed's +-TIMING_JITTER_MINUTES jitter is a box smoothing of the rate by +-jitter
minutes over the whole local day: the same blur of the daily shape, but it can never push
a time out of the window or break the gap or the cap.
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import astuple, dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from math import floor
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from config.settings import Settings
from planner.clock import ensure_aware_utc

CELL_S = 15
HOUR_S = 3600
MAX_ATTEMPTS = 2000
_SECOND = timedelta(seconds=1)
_MICRO = timedelta(microseconds=1)
_HOUR = timedelta(hours=1)
_SECONDS_OF_HOUR = tuple(s * _SECOND for s in range(HOUR_S))

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class TimingError(ValueError):
    """Raised when a day's window cannot hold the requested number of actions."""


@dataclass(frozen=True, eq=False)
class _Params:
    """The settings that shape timing: a small hashable key for the caches.

    Compared by identity: ``_params`` hands out one object per distinct value, and every
    cached lookup hashes the key, which costs least for an identity.
    """

    tz: str
    start: time
    end: time
    rates: tuple[tuple[int, float], ...]
    jitter_min: float
    gap_s: int
    hourly: int


@dataclass(frozen=True, eq=False)
class _Shape:
    """What a day's cell rates depend on; equal for all days without a clock change.

    Compared by identity, like ``_Params``: ``_grid`` hands out one object per distinct
    value, so the caches keyed by it hash an identity instead of calling a Python hash.
    """

    params: _Params
    wall_start_s: int  # local clock second of day at the first grid second
    seconds: int  # whole seconds in the window
    shifts: tuple[tuple[int, int], ...]  # (grid second, offset change) at each transition


@dataclass(frozen=True)
class _Tables:
    neg_f: FloatArray  # row r: -F[r] (non-decreasing), F[r][j] ∝ weight of r points at >= j
    lo: IntArray  # first grid second of each cell
    span: IntArray  # usable seconds of each cell
    g_cells: int
    # The same, for scalar steps: bisect on a row's memoryview and list indexing cost a
    # fraction of numpy's per-call overhead, and find the same cells. ``steps[i]`` is
    # -F[n - i], the row that places point ``i``.
    steps: tuple[memoryview, ...]
    lo_list: list[int]
    span_list: list[int]


_PARAMS: dict[int, tuple[Settings, _Params]] = {}
_DISTINCT: dict[tuple[object, ...], _Params] = {}


def _params(settings: Settings) -> _Params:
    """The timing parameters of ``settings``, derived once per settings object.

    Settings are frozen, so the derivation cannot go stale; the cache holds the settings
    object itself, so an id is never reused while it is in the cache. Settings with the
    same timing share one parameters object (and so the caches' entries).
    """
    hit = _PARAMS.get(id(settings))
    if hit is not None and hit[0] is settings:
        return hit[1]
    if len(_PARAMS) >= 64:
        _PARAMS.clear()
        _DISTINCT.clear()
    params = _derive_params(settings)
    params = _DISTINCT.setdefault(astuple(params), params)
    _PARAMS[id(settings)] = (settings, params)
    return params


def _derive_params(settings: Settings) -> _Params:
    # A gap is counted in whole seconds (>= 1 so two actions never share a second);
    # rounding first keeps 0.1 min from becoming 7 s through 6.000000000000001.
    gap_s = max(1, math.ceil(round(settings.TIMING_MIN_GAP_MINUTES * 60, 6)))
    return _Params(
        settings.TIMEZONE,
        settings.OPERATING_START,
        settings.OPERATING_END,
        tuple(settings.rate_segments()),
        settings.TIMING_JITTER_MINUTES,
        gap_s,
        settings.HOURLY_LIMIT,
    )


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _resolve(day: date, clock: time, tz: ZoneInfo) -> datetime:
    wall = datetime.combine(day, clock)
    first = wall.replace(tzinfo=tz).astimezone(UTC)  # fold=0: first of an ambiguous pair
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first
    # In a spring-forward gap fold=1 lands before the jump and fold=0 after it; the first
    # valid instant after the nonexistent time is the transition, found by bisection.
    lo, hi = wall.replace(tzinfo=tz, fold=1).astimezone(UTC), first
    while hi - lo > _SECOND:
        mid = lo + (hi - lo) // 2
        lo, hi = (lo, mid) if mid.astimezone(tz).replace(tzinfo=None) >= wall else (mid, hi)
    return hi


@lru_cache(maxsize=4096)
def _window(day: date, params: _Params) -> tuple[datetime, datetime]:
    tz = ZoneInfo(params.tz)
    return _resolve(day, params.start, tz), _resolve(day, params.end, tz)


def day_window(day: date, settings: Settings) -> tuple[datetime, datetime]:
    """Aware-UTC [start, end) of the operating window on local date ``day``.

    A local bound inside a spring-forward gap moves to the first valid instant after it;
    an ambiguous one takes the first occurrence (fold=0).
    """
    return _window(day, _params(settings))


def _offset_s(instant: datetime, tz: ZoneInfo) -> int:
    offset = instant.astimezone(tz).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


class _Day(NamedTuple):
    base: datetime  # the window's first whole second (grid second 0)
    shape: _Shape
    # The instant of each whole hour of the grid: an instant is then one addition away.
    hours: tuple[datetime, ...]


@lru_cache(maxsize=4096)
def _grid(day: date, params: _Params) -> _Day:
    """The window's first whole second, the day's shape and hours."""
    tz = ZoneInfo(params.tz)
    start, end = _window(day, params)
    base = start + (-(start - start.replace(microsecond=0))) % _SECOND
    seconds = max(0, _ceil_div((end - base) // _MICRO, 1_000_000))
    wall = base.astimezone(tz).replace(tzinfo=None)
    wall_start_s = (wall - datetime.combine(day, time())) // _SECOND
    shifts = () if params.tz == "UTC" else _shifts(base, seconds, tz)  # UTC never changes
    fields = (params, wall_start_s, seconds, shifts)
    # Days without a clock change share one shape object (params are shared already).
    shape = _SHAPES.setdefault(fields, _Shape(*fields))
    return _Day(base, shape, tuple(base + h * _HOUR for h in range(seconds // HOUR_S + 1)))


_SHAPES: dict[tuple[object, ...], _Shape] = {}


def _shifts(base: datetime, seconds: int, tz: ZoneInfo) -> tuple[tuple[int, int], ...]:
    """(grid second, offset change since ``base``) of each clock change in the window.

    Clock changes are hours apart, so probing every 15 minutes finds each one. Each
    probe's offset is looked up once (the lookups are most of a new day's cost).
    """
    probes = [*range(0, seconds, 900), seconds]
    offsets = [_offset_s(base + p * _SECOND, tz) for p in probes]
    shifts: list[tuple[int, int]] = []
    for (a, before), (b, after) in itertools.pairwise(zip(probes, offsets, strict=True)):
        if after != before:
            lo, hi = a, b
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if _offset_s(base + mid * _SECOND, tz) == before else (lo, mid)
            shifts.append((hi, _offset_s(base + hi * _SECOND, tz) - offsets[0]))
    return tuple(shifts)


def _rate(params: _Params, minutes: FloatArray) -> FloatArray:
    """The configured rate at local clock ``minutes`` of the day, box-smoothed by jitter."""
    starts = np.array([s for s, _ in params.rates[1:]], dtype=np.float64)
    values = np.array([r for _, r in params.rates], dtype=np.float64)
    jitter = params.jitter_min
    if jitter <= 0:
        return values[np.searchsorted(starts, minutes, side="right")]
    # The smoothed rate is a difference quotient of the cumulative rate R (piecewise linear).
    knots = np.concatenate(([-2880.0], starts, [4320.0]))
    cum = np.concatenate(([0.0], np.cumsum(values * np.diff(knots))))
    upper = np.interp(minutes + jitter, knots, cum)
    return (upper - np.interp(minutes - jitter, knots, cum)) / (2 * jitter)


@lru_cache(maxsize=64)
def _cells(shape: _Shape) -> tuple[FloatArray, IntArray]:
    """Rate and usable length of each 15-second cell of the grid."""
    cells = _ceil_div(shape.seconds, CELL_S)
    span = np.full(cells, CELL_S, dtype=np.int64)
    if cells:
        span[-1] = shape.seconds - CELL_S * (cells - 1)
    mid = np.arange(cells, dtype=np.float64) * CELL_S + span / 2
    at = np.array([0] + [s for s, _ in shape.shifts], dtype=np.float64)
    delta = np.array([0] + [d for _, d in shape.shifts], dtype=np.float64)
    wall = shape.wall_start_s + mid + delta[np.searchsorted(at, mid, side="right") - 1]
    rate = _rate(shape.params, wall / 60)
    rate.flags.writeable = span.flags.writeable = False
    return rate, span


@lru_cache(maxsize=64)
def _tables(shape: _Shape, n: int, first: int) -> _Tables:
    stack = _stack(shape, first, n)
    neg_f = stack.rows[: n + 1]
    steps = tuple(neg_f[r].data for r in range(n, 0, -1))
    return _Tables(
        neg_f, stack.lo, stack.span, stack.g_cells, steps, stack.lo_list, stack.span_list
    )


class _Stack(NamedTuple):
    """The rows ``-F[0..]`` of one (shape, first), shared by every ``n``: row ``r`` depends
    on ``r`` alone, so a day of ``n`` actions reads the first ``n + 1`` rows of the stack."""

    rows: FloatArray
    lo: IntArray
    span: IntArray
    g_cells: int
    lo_list: list[int]
    span_list: list[int]
    weight: FloatArray


_STACKS: dict[tuple[_Shape, int], _Stack] = {}


def _stack(shape: _Shape, first: int, n: int) -> _Stack:
    """The stack of (shape, first) with at least ``n + 1`` rows, grown from its last row
    (the rows are the same whenever they are computed)."""
    stack = _STACKS.get((shape, first))
    if stack is None:
        stack = _new_stack(shape, first)
    if len(stack.rows) <= n:
        stack = stack._replace(rows=_grow(stack, n + 1))
        stack.rows.flags.writeable = False
        if len(_STACKS) >= 64:
            _STACKS.clear()
        _STACKS[(shape, first)] = stack
    return stack


def _new_stack(shape: _Shape, first: int) -> _Stack:
    rate, span = _cells(shape)
    j0 = first // CELL_S
    lo = np.arange(j0, len(span), dtype=np.int64) * CELL_S
    span = span[j0:].copy()
    span[0] -= first - lo[0]
    lo[0] = first
    weight = rate[j0:] * span
    # Smallest cell gap whose seconds can still be gap_s apart (offsets span 0..14).
    g = max(0, _ceil_div(shape.params.gap_s - (CELL_S - 1), CELL_S))
    rows = -np.ones((1, len(span) + g + 1))
    lo.flags.writeable = span.flags.writeable = False
    return _Stack(rows, lo, span, g, lo.tolist(), span.tolist(), weight)


def _grow(stack: _Stack, count: int) -> FloatArray:
    """``count`` rows: the stack's own, then each next one from the one before."""
    g, weight = stack.g_cells, stack.weight
    cells = len(weight)
    neg_f = np.zeros((count, stack.rows.shape[1]))
    neg_f[: len(stack.rows)] = stack.rows
    f_prev = -stack.rows[-1]
    for r in range(len(stack.rows), count):
        f = np.zeros(cells + g + 1)
        f[:cells] = np.cumsum((weight * f_prev[g : g + cells])[::-1])[::-1]
        if f[0] > 0:
            f /= f[0]  # only ratios within a row matter; this keeps them in range
        neg_f[r] = -f
        f_prev = f
    return neg_f


def _propose(rng: np.random.Generator, tab: _Tables, n: int, batch: int) -> IntArray:
    """``batch`` independent proposals (grid seconds), each a row of ``n`` points."""
    start = np.zeros(batch, dtype=np.int64)
    cells = np.empty((batch, n), dtype=np.int64)
    v = rng.random((batch, n))
    for i in range(n):
        neg_f = tab.neg_f[n - i]
        # First k with F[k] <= v F[s]; then cell k-1 is drawn with weight F[k-1] - F[k].
        k = np.searchsorted(neg_f, v[:, i] * neg_f[start], side="left")
        cells[:, i] = k - 1
        start = k - 1 + tab.g_cells
    offsets = (rng.random((batch, n)) * tab.span[cells]).astype(np.int64)
    return tab.lo[cells] + offsets


def _first_valid(tab: _Tables, draws: FloatArray, params: _Params) -> list[int] | None:
    """The first row of ``_propose(...)`` that keeps the gap and the cap, or None.

    The same proposals from the same uniforms (``draws[0]``: cells, ``draws[1]``: seconds
    within them), built one row at a time with scalar steps: most days accept the first
    row, so this skips the other rows' work while returning exactly what the batch would.
    """
    for row in range(draws.shape[1]):
        v, u = draws[:, row].tolist()  # only this row's uniforms become Python floats
        times = _valid_row(tab, v, u, params)
        if times is not None:
            return times
    return None


def _valid_row(tab: _Tables, v: list[float], u: list[float], params: _Params) -> list[int] | None:
    """One row of ``_propose`` (uniforms ``v``: cells, ``u``: seconds), or None if it
    breaks the gap or the hourly cap."""
    lo, span, g = tab.lo_list, tab.span_list, tab.g_cells
    gap_s, hourly = params.gap_s, params.hourly
    # Each point is checked as it comes against the previous one and the one ``hourly``
    # back, ``times[i]`` behind ``hourly`` sentinels an hour before the window (cheaper than
    # a pass over the differences afterwards).
    times = [-HOUR_S] * hourly
    previous = -gap_s
    start = 0
    for i, neg_f in enumerate(tab.steps):  # indexing v and u costs less than a zip
        # searchsorted(side="left") on a non-decreasing row is bisect_left.
        cell = bisect_left(neg_f, v[i] * neg_f[start]) - 1
        second = lo[cell] + floor(u[i] * span[cell])  # int() of a float >= 0, cheaper
        if second - previous < gap_s or second - times[i] < HOUR_S:
            return None
        times.append(second)
        previous, start = second, cell + g
    return times[hourly:]


def _sequential(rng: np.random.Generator, shape: _Shape, n: int, first: int) -> list[int]:
    """Approximate fallback: each point from the rate over the positions that still fit."""
    gap, hourly = shape.params.gap_s, shape.params.hourly
    latest = [shape.seconds - 1] * n
    for i in range(n - 2, -1, -1):
        bound = latest[i + 1] - gap
        latest[i] = min(bound, latest[i + hourly] - HOUR_S) if i + hourly < n else bound
    rate, span = _cells(shape)
    cum = np.concatenate(([0.0], np.cumsum(np.repeat(rate, span))))
    out: list[int] = []
    for i in range(n):
        lo = first if i == 0 else out[-1] + gap
        if i >= hourly:
            lo = max(lo, out[i - hourly] + HOUR_S)
        target = cum[lo] + rng.random() * (cum[latest[i] + 1] - cum[lo])
        pick = int(np.searchsorted(cum, target, side="right")) - 1
        out.append(min(max(pick, lo), latest[i]))
    return out


def _instants(day: _Day, seconds: Iterable[int]) -> list[datetime]:
    """The aware-UTC instants of grid ``seconds`` on ``day``."""
    # Adding a tabled timedelta to the tabled hour costs a fraction of base + s * _SECOND.
    hours, rest = day.hours, _SECONDS_OF_HOUR
    return [hours[s // HOUR_S] + rest[s % HOUR_S] for s in seconds]


def _first_second(base: datetime, not_before: datetime | None) -> int:
    """The first grid second at or after ``not_before`` (0 if none or before the window)."""
    if not_before is None:
        return 0
    if not_before.tzinfo is not UTC:
        ensure_aware_utc(not_before, what="not_before")  # refuses a naive one
    if not_before <= base:  # planned ahead of the window, as usual: skips a timedelta
        return 0
    # Aware datetimes subtract through their UTC offsets, like after astimezone(UTC). A
    # timedelta's seconds and microseconds are never negative, so this rounds up.
    ahead = not_before - base
    return max(0, ahead.days * 86_400 + ahead.seconds + (ahead.microseconds > 0))


@lru_cache(maxsize=4096)
def _capacity(seconds: int, params: _Params) -> int:
    """Greedy earliest placement: the i-th point at (i // H) hours + (i % H) gaps."""
    if seconds <= 0:
        return 0
    gap, hourly = params.gap_s, params.hourly
    if hourly * gap >= HOUR_S:
        return _ceil_div(seconds, gap)
    return sum(min(hourly, _ceil_div(seconds - b, gap)) for b in range(0, seconds, HOUR_S))


def capacity(day: date, settings: Settings, *, not_before: datetime | None = None) -> int:
    """Most actions that fit in the (rest of the) window with the gap and hourly cap."""
    base, shape, _ = _grid(day, _params(settings))
    return _capacity(shape.seconds - _first_second(base, not_before), shape.params)


def sample_day_times(
    rng: np.random.Generator,
    n: int,
    day: date,
    settings: Settings,
    *,
    not_before: datetime | None = None,
) -> list[datetime]:
    """``n`` sorted aware-UTC whole-second instants in the (rest of the) window of ``day``.

    Consecutive instants are >= TIMING_MIN_GAP_MINUTES apart and no 60 minutes hold more
    than HOURLY_LIMIT; the law is the NHPP conditioned on both. Raises TimingError when
    ``n`` exceeds ``capacity``.
    """
    params = _params(settings)
    grid = _grid(day, params)
    base, shape, _ = grid
    first = _first_second(base, not_before)
    fits = _capacity(shape.seconds - first, params)
    if n < 0 or n > fits:
        start, end = _window(day, params)
        lower = max(start, base + first * _SECOND)
        raise TimingError(
            f"{n} actions cannot fit on {day} between {local_hhmm(lower, settings)} and "
            f"{local_hhmm(end, settings)} ({settings.TIMEZONE}): at most {fits} at "
            f"TIMING_MIN_GAP_MINUTES={settings.TIMING_MIN_GAP_MINUTES:g} and "
            f"HOURLY_LIMIT={settings.HOURLY_LIMIT}"
        )
    if n == 0:
        return []
    tab = _tables(shape, n, first)
    # The first batch is small and usually accepted: walk its rows one by one (same draws:
    # the cells' uniforms, then the seconds', in one call).
    found = _first_valid(tab, rng.random((2, 4, n)), params)
    if found is not None:
        return _instants(grid, found)
    tried, batch = 4, 16
    while tried < MAX_ATTEMPTS:
        size = min(batch, MAX_ATTEMPTS - tried)
        times = _propose(rng, tab, n, size)
        ok = np.all(np.diff(times, axis=1) >= params.gap_s, axis=1)
        if params.hourly < n:
            ok &= np.all(times[:, params.hourly :] - times[:, : -params.hourly] >= HOUR_S, axis=1)
        if ok.any():
            return _instants(grid, times[int(np.argmax(ok))].tolist())
        tried, batch = tried + size, batch * 4
    return _instants(grid, _sequential(rng, shape, n, first))


def retime(
    rng: np.random.Generator,
    day: date,
    settings: Settings,
    *,
    taken: Sequence[datetime],
    not_before: datetime,
) -> datetime | None:
    """One new instant in [not_before, window end) that keeps the gap and the hourly cap.

    Drawn from the intensity restricted to the positions that keep the gap to every
    ``taken`` instant and every rolling 60 minutes at <= HOURLY_LIMIT together with
    ``taken``; None if nowhere fits.
    """
    params = _params(settings)
    base, shape, _ = _grid(day, params)
    first = _first_second(base, not_before)
    if first >= shape.seconds:
        return None
    rate, span = _cells(shape)
    cand = np.arange(first, shape.seconds, dtype=np.float64)
    weight = np.repeat(rate, span)[first:]
    xs = sorted((ensure_aware_utc(t, what="taken") - base) / _SECOND for t in taken)
    for x in xs:
        weight[np.abs(cand - x) < params.gap_s] = 0.0
    h = params.hourly
    for a in range(len(xs) - h + 1):
        # H taken points within an hour: a new one anywhere near them makes H + 1.
        if xs[a + h - 1] - xs[a] < HOUR_S:
            weight[(cand > xs[a + h - 1] - HOUR_S) & (cand < xs[a] + HOUR_S)] = 0.0
    cum = np.cumsum(weight)
    if cum[-1] <= 0:
        return None
    pick = int(np.searchsorted(cum, rng.random() * cum[-1], side="right"))
    return base + (first + pick) * _SECOND


def local_hhmm(instant: datetime, settings: Settings) -> str:
    """``instant`` as HH:MM on the account's local clock."""
    local = ensure_aware_utc(instant).astimezone(settings.tz)
    return f"{local.hour:02d}:{local.minute:02d}"  # strftime costs several times more


def intensity_cdf(settings: Settings) -> Callable[[FloatArray], FloatArray]:
    """CDF of the configured (jitter-smoothed) rate over the nominal local window.

    Maps local clock minutes of the day to the share of the rate before them: the law of
    one time of a day without a clock change, for Kolmogorov-Smirnov tests.
    """
    params = _params(settings)
    a = params.start.hour * 60 + params.start.minute + params.start.second / 60
    b = params.end.hour * 60 + params.end.minute + params.end.second / 60
    edges = np.linspace(a, b, max(2, round((b - a) * 60) + 1))
    dens = _rate(params, (edges[:-1] + edges[1:]) / 2) * np.diff(edges)
    cdf = np.concatenate(([0.0], np.cumsum(dens)))
    cdf /= cdf[-1]

    def evaluate(minutes: FloatArray) -> FloatArray:
        return np.interp(np.asarray(minutes, dtype=np.float64), edges, cdf)

    return evaluate
