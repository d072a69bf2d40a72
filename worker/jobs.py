"""RQ job functions (``rq worker engagements`` runs them). Module-level, ids only.

The planner enqueues them by dotted path (``worker.jobs.run_slot``), so it never imports
this package. Each job builds nothing itself: the process-wide runtime holds settings,
the Redis client and the handler.
"""

from __future__ import annotations

import logging

from planner import chain
from planner.profiles import Profile
from planner.service import Live, ServiceError, generate, load_profiles, revise_live
from worker.execute import execute_slot
from worker.runtime import runtime

log = logging.getLogger(__name__)


def run_slot(account: str, slot_id: str) -> str:
    """Run one planned slot; returns its status (or "rescheduled" / "ignored")."""
    rt = runtime()
    return execute_slot(rt.live(account), rt.handler_for(account), rt.rng, slot_id).status


def chain_tick(account: str) -> str:
    """The daily tick: ensure this week's plan, revise it, schedule tomorrow's tick."""
    rt = runtime()
    live = rt.live(account)
    now = live.clock()
    try:
        outcome = generate(live, _profiles(live), now=now, rng=rt.rng)
        _, report, unknown = revise_live(live, now=now, rng=rt.rng)
        summary = (
            f"week {outcome.action}; {report.rebound} slots re-bound; "
            f"{len(unknown)} interrupted slots marked unknown"
        )
    except ServiceError as exc:
        summary = f"tick failed: {exc}"
        log.error("account %s: %s", account, summary)
    chain.install(live, now)
    return summary


def _profiles(live: Live) -> list[Profile]:
    """The source if it can be read, else the snapshot stored with the last plan."""
    from planner.sources import SourceError, open_source  # noqa: PLC0415

    try:
        return open_source(live.settings).load(live.clock()).profiles
    except SourceError as exc:
        log.warning(
            "account %s: profile source unreadable (%s); using the stored snapshot",
            live.account,
            exc,
        )
        return load_profiles(live)


def warm_up(hold_s: float = 0.0) -> str:
    """Build the runtime (imports, settings, handler) before timed work arrives."""
    import time  # noqa: PLC0415

    runtime()
    time.sleep(hold_s)  # holding the worker a moment lets each worker take one warm-up job
    return "warm"
