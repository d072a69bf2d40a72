"""RQ job functions (``rq worker engagements`` runs them). Module-level, ids only.

The planner enqueues them by dotted path (``worker.jobs.run_slot``), so it never imports
this package. Each job builds nothing itself: the process-wide runtime holds settings,
the Redis client and the handler.
"""

from __future__ import annotations

import logging

from planner import chain
from planner.profiles import Profile
from planner.service import Live, generate, load_profiles, revise_live, save_profiles
from worker.execute import execute_slot
from worker.runtime import runtime

log = logging.getLogger(__name__)


def run_slot(account: str, slot_id: str) -> str:
    """Run one planned slot; returns its status (or "rescheduled" / "ignored")."""
    rt = runtime()
    live, handler = rt.live(account), rt.handler_for(account)
    return execute_slot(live, handler, rt.rng, slot_id, guard=rt.guard(account)).status


def chain_tick(account: str) -> str:
    """The daily tick: refresh profiles, ensure this week's plan, revise it, write back.

    Tomorrow's tick is scheduled whatever happens today: one bad day (an unreadable
    source, a Redis hiccup) must not end the chain. A failure still fails this job, so
    it shows in ``rq info``.
    """
    rt = runtime()
    live = rt.live(account)
    now = live.clock()
    try:
        profiles = _profiles(live)
        outcome = generate(live, profiles, now=now, rng=rt.rng)
        if outcome.action == "exists":
            save_profiles(live, profiles)  # revise sees profiles added to the source mid-week
        _, report, unknown = revise_live(live, now=now, rng=rt.rng)
        written = _write_back(live)
        return (
            f"week {outcome.action}; {report.rebound} slots re-bound; "
            f"{len(unknown)} interrupted slots marked unknown; {written} outcomes written back"
        )
    finally:
        chain.install(live, now)


def _write_back(live: Live) -> int:
    from planner import outbox  # noqa: PLC0415
    from planner.sources import SourceError, open_source  # noqa: PLC0415

    if not live.settings.WRITE_BACK:
        return 0
    try:
        return outbox.flush(live.client, live.account, open_source(live.settings))
    except SourceError as exc:  # kept queued; the next tick or `sync` retries
        log.warning("account %s: write-back failed: %s", live.account, exc)
        return 0


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
