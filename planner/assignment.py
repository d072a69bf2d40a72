"""Who fills which slot: coverage-first selection over several days, projecting forward.

Shared by week assembly (Monday: every slot is open) and ``revise`` (each morning: only
the slots that have not run yet are open). A profile picked for an earlier day counts as
engaged at that slot's time when the later days are chosen, so Tuesday's picks already
respect "not engaged successfully yesterday" (I5) and the coverage clock.

The state of every profile lives in numpy arrays in key order (``Coverage``), so a day's
eligibility, days-since and deadlines are a few array operations whether there are 100
profiles or 100,000. Instants are epoch microseconds (exact integers) and local dates are
proleptic ordinals (``date.toordinal()``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from itertools import compress, count, repeat
from operator import attrgetter, is_, is_not
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from config.settings import Settings
from planner.ledger import NEVER_ENGAGED_DAYS, LedgerEntry, LedgerState, LedgerView
from planner.profiles import Profile
from planner.scoring import Pick, select_indices

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_tuple_new = tuple.__new__

# Beyond the planned days the selection needs to know how many slots are coming, to decide
# who can still wait; the average daily budget is the honest guess.
LOOKAHEAD_DAYS = 14

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
US_PER_DAY = 86_400_000_000
_US_PER_HOUR = 3_600_000_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
NEVER_US = np.iinfo(np.int64).min  # "no instant": never engaged, no cooldown
NEVER_DAY = np.iinfo(np.int64).min // 2  # local date of "never": before any yesterday


def to_us(instant: datetime) -> int:
    """Epoch microseconds of an aware instant (exact integer arithmetic)."""
    # One subtraction and one floor division, both in C (an instant in UTC skips the
    # offsets, as the epoch is in UTC too): cheaper than combining the instant's fields.
    return (instant - _EPOCH) // _US


_LAST_DONE = attrgetter("last_done_at")
_LAST_ENGAGED = attrgetter("last_engaged_at")
_COOLDOWN = attrgetter("cooldown_until")


def instants_us(instants: Iterable[datetime | None]) -> IntArray:
    """Epoch microseconds of aware instants, NEVER_US for None; exact."""
    return np.array([NEVER_US if t is None else to_us(t) for t in instants], dtype=np.int64)


class LocalCalendar:
    """Local calendar dates of instants in one time zone, exact and vectorised.

    A zone's UTC offset changes a few times a year at most, and never twice within an hour,
    so the offset is looked up once per UTC hour (and remembered); an hour that contains a
    change is resolved instant by instant.
    """

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self._hour_offsets: dict[int, int | None] = {}
        self.is_utc = tz is UTC or getattr(tz, "key", None) == "UTC"
        self._fixed = 0 if self.is_utc else None

    def _hour_offset(self, hour: int) -> int | None:
        """The offset (microseconds) throughout UTC hour ``hour``; None if it changes in it."""
        if hour not in self._hour_offsets:
            start = _EPOCH + timedelta(hours=hour)
            first = start.astimezone(self.tz).utcoffset()
            last = (start + timedelta(hours=1) - _US).astimezone(self.tz).utcoffset()
            same = first == last and first is not None
            self._hour_offsets[hour] = first // _US if same and first is not None else None
        return self._hour_offsets[hour]

    def offset_us(self, us: int) -> int:
        """The zone's UTC offset (microseconds) at the instant ``us``."""
        if self._fixed is not None:
            return self._fixed
        offset = self._hour_offset(us // _US_PER_HOUR)
        if offset is None:
            local = (_EPOCH + timedelta(microseconds=us)).astimezone(self.tz).utcoffset()
            return 0 if local is None else local // _US
        return offset

    def ordinal(self, us: int) -> int:
        """Local date (ordinal) of the instant ``us``."""
        return (us + self.offset_us(us)) // US_PER_DAY + _EPOCH_ORDINAL

    def ordinal_list(self, us: Sequence[int]) -> list[int]:
        """``ordinal`` of each of ``us`` (a few instants: no array is worth building)."""
        if self._fixed is not None:
            fixed, epoch = self._fixed, _EPOCH_ORDINAL
            return [(u + fixed) // US_PER_DAY + epoch for u in us]
        return [self.ordinal(u) for u in us]

    def hhmm(self, us: int) -> str:
        """Local clock time of the instant ``us`` as HH:MM."""
        return _HHMM[(us + self.offset_us(us)) // 60_000_000 % 1440]

    def hhmm_list(self, instants: Sequence[datetime]) -> list[str]:
        """``hhmm_of`` each of ``instants``."""
        if self.is_utc:  # aware UTC instants show the local clock already
            return [
                _HHMM[t.hour * 60 + t.minute] if t.tzinfo is UTC else self.hhmm(to_us(t))
                for t in instants
            ]
        return [self.hhmm(to_us(t)) for t in instants]

    def ordinals(self, us: IntArray) -> IntArray:
        """Local dates (ordinals) of the instants ``us``; NEVER_US gives NEVER_DAY."""
        never = us == NEVER_US
        out: IntArray
        if self._fixed is not None:
            out = (us + self._fixed) // US_PER_DAY + _EPOCH_ORDINAL
        else:
            hours, inverse = np.unique(np.where(never, 0, us) // _US_PER_HOUR, return_inverse=True)
            found = [self._hour_offset(int(h)) for h in hours]
            offsets = np.array([0 if o is None else o for o in found], dtype=np.int64)
            out = (us + offsets[inverse]) // US_PER_DAY + _EPOCH_ORDINAL
            mixed = np.array([o is None for o in found], dtype=bool)[inverse] & ~never
            for i in np.flatnonzero(mixed):
                out[i] = self.ordinal(int(us[i]))
        out[never] = NEVER_DAY
        return out


_HHMM = tuple(f"{m // 60:02d}:{m % 60:02d}" for m in range(1440))
"""HH:MM of every minute of a day (formatting one costs more than looking it up)."""

_CALENDARS: dict[tzinfo, LocalCalendar] = {}


def calendar_for(tz: tzinfo) -> LocalCalendar:
    """The (shared, memoised) calendar of ``tz``."""
    if tz not in _CALENDARS:
        _CALENDARS[tz] = LocalCalendar(tz)
    return _CALENDARS[tz]


@dataclass(frozen=True)
class _ProfileTable:
    """What planning needs of a profile list, in key order: derived once per list.

    Planning passes over one list many times (the daily revise, the simulation's thousands
    of days); profiles are frozen models, so a list is recognised by the identities of its
    members, and the cache keeps those members alive so no identity is reused meanwhile.
    Nobody may mutate the arrays (``Coverage`` copies ``done_us`` before projecting).
    """

    members: tuple[Profile, ...]
    by_key: dict[str, Profile]  # a later duplicate of a key wins, as in a dict literal
    keys: list[str]
    position: dict[str, int]
    active: BoolArray
    everyone_active: bool
    done_us: IntArray  # the source's last engagement; NEVER_US when it has none
    done_list: list[int]  # the same, for reading one element at a time

    @classmethod
    def of(cls, profiles: Sequence[Profile]) -> _ProfileTable:
        # Most passes plan from the very list the previous one did: comparing identities
        # costs a fraction of hashing them all.
        last = _LAST_TABLE[0]
        if last is not None and _same_members(profiles, last.members):
            return last
        members = tuple(profiles)
        identity = tuple(map(id, members))
        table = _TABLES.get(identity)
        if table is None:
            table = cls._build(members)
            if len(_TABLES) >= _TABLES_KEPT:
                del _TABLES[next(iter(_TABLES))]  # the oldest entry
            _TABLES[identity] = table
        _LAST_TABLE[0] = table
        return table

    @classmethod
    def _build(cls, members: tuple[Profile, ...]) -> _ProfileTable:
        by_key = {p.key: p for p in members}
        keys = sorted(by_key)
        ordered = [by_key[k] for k in keys]
        n = len(keys)
        active = np.fromiter((p.active for p in ordered), dtype=bool, count=n)
        done_us = instants_us(map(_LAST_ENGAGED, ordered))
        active.flags.writeable = done_us.flags.writeable = False
        position = {k: i for i, k in enumerate(keys)}
        everyone = bool(active.all())
        return cls(members, by_key, keys, position, active, everyone, done_us, done_us.tolist())


def _same_members(profiles: Sequence[Profile], members: tuple[Profile, ...]) -> bool:
    return len(profiles) == len(members) and all(map(is_, profiles, members))


_TABLES: dict[tuple[int, ...], _ProfileTable] = {}
_TABLES_KEPT = 8
_LAST_TABLE: list[_ProfileTable | None] = [None]


@dataclass(frozen=True)
class _LedgerRead:
    """A ledger as read for one profile table and calendar: per position, the last success
    (the later of the source's and the ledger's; NEVER_US for none), its local date, the
    end of a cooldown (NEVER_US for none), and the keys and entries they were read from.

    Planning reads a ledger every day in which only the day's attempts changed entries.
    Entries are immutable (``LedgerState`` tuples, frozen ``LedgerEntry`` models), so an
    entry that is the very object read last time needs no reading again, nor does a field
    that is the very object its predecessor held. The last read is kept only when all its
    entries are of those types; its arrays are never written.
    """

    table: _ProfileTable
    calendar: LocalCalendar
    keys: list[str]  # the ledger's, in its order
    entries: list[LedgerView]  # in the same order
    done_us: IntArray
    done_day: IntArray
    cooldown_us: IntArray

    @classmethod
    def of(
        cls, table: _ProfileTable, ledger: Mapping[str, LedgerView], calendar: LocalCalendar
    ) -> _LedgerRead:
        last = _LAST_READ.get(id(table))
        if last is None or last.table is not table or last.calendar is not calendar:
            return cls._read(table, ledger, calendar)
        keys, entries = list(ledger), list(ledger.values())
        n = len(last.keys)
        # A dict keeps its keys in insertion order, and replacing an entry keeps its place:
        # while entries are only replaced or added, the keys read last time come first, in
        # the same order, and an entry is new exactly where it is not the object read at its
        # place. Anything else (an entry went away) is read anew.
        if keys[:n] != last.keys:
            return cls._read(table, ledger, calendar)
        changed = list(compress(count(), map(is_not, entries, last.entries)))
        changed += range(n, len(keys))
        if not changed:
            return last
        return cls._keep(last._updated(keys, entries, changed), map(entries.__getitem__, changed))

    def _updated(
        self, keys: list[str], entries: list[LedgerView], changed: list[int]
    ) -> _LedgerRead:
        """This read with the ledger's ``entries`` at places ``changed`` read anew."""
        table, before = self.table, self.entries
        source, position, n = table.done_list, table.position, len(before)
        done_at: list[int] = []
        done: list[int] = []
        cooldown_at: list[int] = []
        cooldown: list[int] = []
        for j in changed:
            i = position.get(keys[j])
            if i is None:
                continue
            entry = entries[j]
            old = before[j] if j < n else None
            t, c = entry.last_done_at, entry.cooldown_until
            if old is None or t is not old.last_done_at:
                done_at.append(i)
                if t is None:
                    done.append(source[i])
                else:
                    us = to_us(t)
                    done.append(us if us > source[i] else source[i])  # max(), minus its call
            if old is None or c is not old.cooldown_until:
                cooldown_at.append(i)
                cooldown.append(NEVER_US if c is None else to_us(c))
        return _LedgerRead(
            table,
            self.calendar,
            keys,
            entries,
            _with(self.done_us, done_at, done),
            _with(self.done_day, done_at, self.calendar.ordinal_list(done)),
            _with(self.cooldown_us, cooldown_at, cooldown),
        )

    @classmethod
    def _read(
        cls, table: _ProfileTable, ledger: Mapping[str, LedgerView], calendar: LocalCalendar
    ) -> _LedgerRead:
        done = np.full(len(table.keys), NEVER_US, dtype=np.int64)
        cooldown = done.copy()
        keys, entries = list(ledger), list(ledger.values())
        if keys:
            n = len(keys)
            found = np.fromiter(map(table.position.get, keys, repeat(-1, n)), np.int64, n)
            known = found >= 0
            at = found[known]
            done[at] = instants_us(map(_LAST_DONE, entries))[known]
            cooldown[at] = instants_us(map(_COOLDOWN, entries))[known]
        # The later of the source's last engagement and the ledger's last success.
        np.maximum(done, table.done_us, out=done)
        done_day = calendar.ordinals(done)
        for array in (done, done_day, cooldown):
            array.setflags(write=False)
        return cls._keep(cls(table, calendar, keys, entries, done, done_day, cooldown), entries)

    @staticmethod
    def _keep(read: _LedgerRead, new: Iterable[LedgerView]) -> _LedgerRead:
        """``read``, remembered if its ``new`` entries (the others were checked when read
        before) are all immutable."""
        if _IMMUTABLE.issuperset(map(type, new)):
            _LAST_READ.clear()  # one table at a time: planning passes over one list
            _LAST_READ[id(read.table)] = read
        else:
            _LAST_READ.pop(id(read.table), None)
        return read


def _with(array: IntArray, at: list[int], values: list[int]) -> IntArray:
    """A read-only copy of ``array`` with ``values`` at positions ``at`` (itself if there
    are none: reads never write their arrays)."""
    if not at:
        return array
    out = array.copy()
    # A day changes a dozen entries: setting them one by one costs less than converting
    # both lists to arrays for one fancy assignment.
    for i, value in zip(at, values, strict=True):
        out[i] = value
    out.setflags(write=False)
    return out


_LAST_READ: dict[int, _LedgerRead] = {}
_IMMUTABLE = frozenset({LedgerState, LedgerEntry})


class OpenDay(NamedTuple):
    """A day with the instants of its open slots, and who may not be picked on it."""

    day: date
    instants: Sequence[datetime]
    day_start: datetime  # the window's start: days_since is measured from here
    blocked: frozenset[str] = frozenset()  # e.g. attempted or in flight today


@dataclass(slots=True)
class DayAssignment:
    day: date
    picks: list[Pick | None]  # one per open instant, in the same order; None: unfilled
    forced: int = 0
    shortfall: int = 0


@dataclass(slots=True)
class Coverage:
    """The projected state of every profile while days are being filled.

    Arrays are indexed by position in ``keys`` (sorted). ``done_us`` is the later of the
    source's and the ledger's last success, or a projected pick (NEVER_US: never engaged);
    ``done_day`` its local date; ``cooldown_us`` the end of a cooldown (NEVER_US: none),
    shared with the ledger read and never written.
    """

    profiles: dict[str, Profile]
    ledger: Mapping[str, LedgerView]
    calendar: LocalCalendar
    keys: list[str]
    position: dict[str, int]
    active: BoolArray
    everyone_active: bool
    cooldown_us: IntArray
    done_us: IntArray
    done_day: IntArray

    @classmethod
    def from_ledger(
        cls, profiles: Sequence[Profile], ledger: Mapping[str, LedgerView], tz: tzinfo = UTC
    ) -> Coverage:
        table = _ProfileTable.of(profiles)
        calendar = calendar_for(tz)
        read = _LedgerRead.of(table, ledger, calendar)
        return cls(
            table.by_key,
            ledger,
            calendar,
            table.keys,
            table.position,
            table.active,
            table.everyone_active,
            read.cooldown_us,
            read.done_us.copy(),  # projections write these two
            read.done_day.copy(),
        )

    def project(self, key: str, instant: datetime) -> None:
        """Count ``key`` as engaged at ``instant`` (a pick, or an action in flight)."""
        i = self.position[key]
        us = to_us(instant)
        self.done_us[i] = us
        self.done_day[i] = self.calendar.ordinal(us)

    def project_positions(self, positions: list[int], instants: Sequence[datetime]) -> None:
        """``project`` the profiles at ``positions`` (none twice) at the matching instants."""
        us = [to_us(t) for t in instants]
        # A day's dozen picks: set one by one, which costs less than converting the lists
        # to arrays for a fancy assignment.
        done_us, done_day = self.done_us, self.done_day
        for i, u, day in zip(positions, us, self.calendar.ordinal_list(us), strict=True):
            done_us[i] = u
            done_day[i] = day

    def in_cooldown(self, at: datetime) -> BoolArray:
        """Which profiles are cooling down at ``at``."""
        out: BoolArray = self.cooldown_us > to_us(at)
        return out

    def eligible(self, day: date, day_start: datetime, blocked: frozenset[str]) -> IntArray:
        """Positions of the profiles that may be picked on ``day``, in key order."""
        ok = self.cooldown_us <= to_us(day_start)  # not cooling down
        # I5: engaged successfully yesterday (or already today) -> not today.
        ok &= self.done_day < day.toordinal() - 1
        if not self.everyone_active:
            ok &= self.active
        for key in blocked:
            i = self.position.get(key)
            if i is not None:
                ok[i] = False
        (out,) = ok.nonzero()  # flatnonzero, minus its wrapping
        return out


def assign_days(
    days: Sequence[OpenDay],
    coverage: Coverage,
    *,
    settings: Settings,
    rng: np.random.Generator,
    fill: int | None = None,
) -> list[DayAssignment]:
    """Fill the open slots of ``days`` (in date order), projecting each pick forward.

    Only the first ``fill`` days are filled (all when None); the later ones still count as
    slots to come when the earlier days decide who can wait.
    """
    beyond = [max(1, round(settings.WEEKLY_BUDGET_TARGET / 7))] * LOOKAHEAD_DAYS
    budgets = [len(d.instants) for d in days]
    out: list[DayAssignment] = []
    for position, open_day in enumerate(days[:fill]):
        budget = budgets[position]
        if budget == 0:
            out.append(DayAssignment(open_day.day, []))
            continue
        who = coverage.eligible(open_day.day, open_day.day_start, open_day.blocked)
        days_since, deadlines = _clocks(coverage, who, open_day, settings)
        future = np.array(budgets[position + 1 :] + beyond, dtype=np.int64)
        chosen = select_indices(
            days_since,
            deadlines,
            budget,
            day=open_day.day.toordinal(),
            future_budgets=future,
            rng=rng,
            settings=settings,
        )
        ranked = chosen.order
        at = who[ranked].tolist()  # the picked profiles' positions, in rank order
        keys, forced = coverage.keys, chosen.forced
        # Pick(...) minus the NamedTuple's Python-level __new__ (a planning pass makes
        # thousands): the same tuples.
        picks: list[Pick | None] = [
            _tuple_new(Pick, (keys[p], score, since, rank < forced))
            for rank, (p, score, since) in enumerate(
                zip(at, chosen.scores[ranked].tolist(), days_since[ranked].tolist(), strict=True)
            )
        ]
        picks += [None] * (budget - len(picks))
        # Slot j gets the pick ranked order[j]. Shuffling the list draws what permutation()
        # draws for its arange (the same Fisher-Yates swaps), without the array round trip.
        order = list(range(budget))
        rng.shuffle(order)
        placed: list[Pick | None] = [picks[i] for i in order]
        n = len(at)
        coverage.project_positions(
            [at[i] for i in order if i < n],
            [t for i, t in zip(order, open_day.instants, strict=True) if i < n],
        )
        out.append(DayAssignment(open_day.day, placed, chosen.forced, chosen.shortfall))
    return out


def _clocks(
    coverage: Coverage, who: IntArray, open_day: OpenDay, settings: Settings
) -> tuple[FloatArray, IntArray]:
    """Days since the last success (at the day's start) and the deadline of each of ``who``."""
    done = coverage.done_us[who]
    start = to_us(open_day.day_start)
    deadline = coverage.done_day[who] + settings.COVERAGE_GUARANTEE_DAYS
    # Seconds first, then days: the same two roundings as timedelta.total_seconds() / 86400.
    # NEVER_US is the smallest int64, so it is absent exactly when the minimum is larger:
    # one reduction, where ``in`` compares and scans.
    if not len(done) or done.min() > NEVER_US:  # the usual case, without the masking
        return np.maximum(0.0, (start - done) / 1e6 / 86_400), deadline
    never = done == NEVER_US
    days_since = np.maximum(0.0, (start - np.where(never, 0, done)) / 1e6 / 86_400)
    # Never engaged: due today, and as long waited as the ledger says.
    days_since[never] = NEVER_ENGAGED_DAYS
    deadline[never] = open_day.day.toordinal()
    return days_since, deadline
