"""Every Redis key the scheduler writes, one function each.

All keys of an account carry the account as a hash tag, ``eng:{<account>}:...``, so one
account's keys live in one Cluster slot and every Lua script touching them stays valid on
Redis Cluster. Nothing else in the code base spells a key name.

Encodings: plan instants are ISO 8601 strings with an explicit ``+00:00`` offset in hash
fields and epoch seconds (float) as day zset scores; guard instants are integer epoch
MICROseconds (exact in Lua's doubles, so window edges compare exactly). Dates are
``YYYY-MM-DD``. Key layout version: :data:`KEY_LAYOUT` (stored in every week's meta hash).

===============================================  ======  ==========================================
key                                              type    content, TTL
===============================================  ======  ==========================================
``eng:{a}:weeks``                                zset    week starts ``YYYY-MM-DD`` scored by the
                                                         date's ordinal; no TTL
``eng:{a}:week:<YYYY-MM-DD>``                    hash    plan meta: layout, schema_version,
                                                         revision, account, timezone, week_start,
                                                         week_number, created_at, days (JSON:
                                                         budget and flags per day), settings (JSON
                                                         snapshot); no TTL
``eng:{a}:day:<YYYY-MM-DD>``                     zset    slot ids of that plan day scored by their
                                                         UTC instant (epoch s); no TTL
``eng:{a}:slot:<slot_id>``                       hash    one slot (see ``planner.store.codec``):
                                                         v, account, week_start, date, index,
                                                         profile, times, status, attempts, ...;
                                                         no TTL
``eng:{a}:ledger``                               hash    profile key -> LedgerEntry JSON; no TTL
``eng:{a}:guard:hour``                           zset    reservation ids (slot ids) scored by the
                                                         action instant (epoch MICROseconds); its
                                                         newest entry is the last action. Trimmed
                                                         to 8 days behind the newest; TTL 9 days,
                                                         set when trimming (once per hour of
                                                         progress) or when it may be new: it lives
                                                         >= 8 days 23 h after its newest action
``eng:{a}:guard:day:<YYYY-MM-DD>``               string  actions counted on that local date; TTL
                                                         until the next local midnight + grace
``eng:{a}:guard:week:<YYYY-Www>``                string  actions counted in that local ISO week;
                                                         TTL until local Monday 00:00 + grace
``eng:{a}:guard:trimmed``                        string  hour zset entries older than this (epoch
                                                         us) were trimmed; TTL 9 days 1 h, set when
                                                         trimming (it outlives the hour zset)
``eng:{a}:guard:res:<slot_id>``                  string  one reservation, ``<at> <day> <week>``: the
                                                         instant (epoch us) and the day and week
                                                         counter keys it counted in; TTL like its
                                                         week counter
``eng:{a}:profiles``                             hash    profile key -> Profile JSON: the profiles
                                                         the current plan was made from (any worker
                                                         host can revise without the source); no TTL
``eng:{a}:jobs``                                 hash    slot id -> id of its current delayed job (a
                                                         re-timed slot gets a new one); no TTL
``eng:{a}:breaker``                              hash    ``failures`` (consecutive failed outcomes),
                                                         ``paused_day`` (local date paused); no TTL
``eng:{a}:outbox``                               list    outcome JSON waiting for write-back to the
                                                         profile source; no TTL
``eng:{a}:inflight``                             hash    profile key -> ``<slot_id> <YYYY-MM-DD>``:
                                                         the slot (and its local day) whose claim
                                                         is running for that profile. Set by the
                                                         run's claim, removed when that run ends
                                                         (only if it still names that slot); a
                                                         crashed run's entry stays (its slot turns
                                                         unknown) until the profile's next claim
                                                         overwrites it. TTL 8 days, refreshed on
                                                         every claim
``eng:{a}:calls``                                hash    demo only: slot id -> handler calls; no TTL
``eng:clock``                                    hash    demo only: real_origin, virtual_origin,
                                                         speed of compressed time; no TTL
===============================================  ======  ==========================================
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

from planner.weekly_plan import validate_account

KEY_LAYOUT = 1
"""Version of the layout above; a week meta hash with another value is refused."""

PREFIX = "eng"
_SLOT_ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_ISO_WEEK_RE = re.compile(r"^\d{4}-W\d{2}$")


@lru_cache(maxsize=4096)
def tag(account: str) -> str:
    """``eng:{<account>}``: the prefix every key of ``account`` starts with (validated once
    per account: every key of a run is built from it)."""
    return f"{PREFIX}:{{{validate_account(account)}}}"


def _slot_id(slot_id: str) -> str:
    if not _SLOT_ID_RE.fullmatch(slot_id):
        raise ValueError(f"slot id {slot_id!r} must match [A-Za-z0-9_-]+")
    return slot_id


# ---- plan ------------------------------------------------------------------------------


def weeks(account: str) -> str:
    """zset: the week starts of every stored plan of ``account``."""
    return f"{tag(account)}:weeks"


def week_meta(account: str, week_start: date) -> str:
    """hash: the meta of the plan of the week starting ``week_start``."""
    return f"{tag(account)}:week:{week_start.isoformat()}"


def day_slots(account: str, day: date) -> str:
    """zset: slot ids of ``day`` by UTC instant."""
    return f"{tag(account)}:day:{day.isoformat()}"


def slot(account: str, slot_id: str) -> str:
    """hash: one slot."""
    return f"{tag(account)}:slot:{_slot_id(slot_id)}"


def ledger(account: str) -> str:
    """hash: the coverage ledger, profile key -> LedgerEntry JSON."""
    return f"{tag(account)}:ledger"


# ---- guard -----------------------------------------------------------------------------


def guard_hour(account: str) -> str:
    """zset: reservations by instant, for the rolling hour and the minimum gap."""
    return f"{tag(account)}:guard:hour"


def guard_day(account: str, local_day: date) -> str:
    """string counter: actions on the local calendar date ``local_day``."""
    return f"{tag(account)}:guard:day:{local_day.isoformat()}"


def guard_week(account: str, iso_week: str) -> str:
    """string counter: actions in the local ISO week ``iso_week`` (``2026-W13``)."""
    if not _ISO_WEEK_RE.fullmatch(iso_week):
        raise ValueError(f"ISO week {iso_week!r} must look like 2026-W13")
    return f"{tag(account)}:guard:week:{iso_week}"


def guard_trimmed(account: str) -> str:
    """string: the cut-off (epoch us) below which the hour zset was trimmed."""
    return f"{tag(account)}:guard:trimmed"


def guard_reservation(account: str, slot_id: str) -> str:
    """string ``<at_us> <day key> <week key>``: the windows one slot's reservation counted in."""
    return f"{tag(account)}:guard:res:{_slot_id(slot_id)}"


def account_pattern(account: str) -> str:
    """A SCAN/KEYS pattern matching every key of ``account`` (for export and tests)."""
    return f"{PREFIX}:{{{validate_account(account)}}}:*"


# ---- execution -------------------------------------------------------------------------


def profiles(account: str) -> str:
    """hash: profile key -> Profile JSON, the snapshot the current plan was made from."""
    return f"{tag(account)}:profiles"


def slot_jobs(account: str) -> str:
    """hash: slot id -> the id of its current delayed job."""
    return f"{tag(account)}:jobs"


def breaker(account: str) -> str:
    """hash: the circuit breaker (consecutive failures, the local day it paused)."""
    return f"{tag(account)}:breaker"


def outbox(account: str) -> str:
    """list: outcomes waiting to be written back into the profile source."""
    return f"{tag(account)}:outbox"


def clock(account: str) -> str:
    """hash: the compressed-time map of a demo, if one runs for this account.

    Per account (not one per Redis) so the claim script can read it under the account's
    hash tag: see ``planner/lua/slot_run.lua``.
    """
    return f"{tag(account)}:clock"


def demo_calls(account: str) -> str:
    """hash: slot id -> how many times the demo handler ran for it."""
    return f"{tag(account)}:calls"


def inflight(account: str) -> str:
    """hash: profile key -> ``<slot_id> <local day>`` of the run in flight for that profile.

    A claim refuses to run a profile while another slot of the day before, the same day or
    the day after holds an entry (I5 under concurrency); see ``planner/lua/slot_begin.lua``.
    """
    return f"{tag(account)}:inflight"
