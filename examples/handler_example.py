"""An example engagement handler: plug it in with

    HANDLER="python:examples.handler_example:engage"

(run the worker from the repository root, so ``examples`` is importable; for your own
handler, any importable module works: ``python:my_package.my_module:my_function``).

The scheduler calls the handler once per executed slot, with keyword arguments:

* ``profile_url`` -- the profile to engage;
* ``name`` -- the profile's display name;
* ``slot`` -- a ``worker.handlers.EngagementRequest`` (account, slot_id, scheduled_at,
  attempt, forced, dry_run).

It returns one of "done", "failed", "already_reacted", "no_posts" (or a result object with
``success`` / ``error_code``, or a ``HandlerResult`` for a reason). It may raise: that is
recorded as ``failed`` with the message. It must not retry an action that may already have
happened (engaging twice can undo a like) and must act on nothing when ``slot.dry_run``.

This one calls nothing external: it only decides an outcome from the URL, so it can be
used to try the whole pipeline safely.
"""

from __future__ import annotations

import logging
from typing import Any

from planner.weekly_plan import Status
from worker.handlers import EngagementRequest, HandlerResult

logger = logging.getLogger(__name__)


def engage(*, profile_url: str, name: str, slot: EngagementRequest, **_: Any) -> str:
    """Pretend to engage ``profile_url``; "done" unless the URL asks for another outcome."""
    if slot.dry_run:
        logger.info("dry run: would engage %s <%s>", name, profile_url)
        return "done"
    # A stand-in for the real work, so the outcome can be steered from a test CSV.
    if profile_url.rstrip("/").endswith("-no-posts"):
        return "no_posts"
    logger.info("engaged %s <%s> for slot %s", name, profile_url, slot.slot_id)
    return "done"


# ---- plugging an existing engagement engine in ------------------------------------------
#
# An engine that already has an async ``engage_profile(url, name)`` returning the seed's
# engagement result (``success: bool``, ``error_code: str | None``) plugs in as it is:
# return its result and the scheduler maps it (success -> done; error_code
# "already_reacted" / "no_posts" map through; anything else -> failed with the code):
#
#     from src.engine import engage_profile          # your engine, not part of this repo
#
#     async def engage_with_engine(*, profile_url, name, slot, **_):
#         if slot.dry_run:
#             return "done"
#         return await engage_profile(profile_url, name)
#
# and HANDLER="python:examples.handler_example:engage_with_engine". The engine's own rate
# limiter is no longer needed for pacing: the scheduler's guard already enforces the
# hourly, daily and weekly caps and the minimum gap before it calls the handler.


def engage_with_reason(*, profile_url: str, name: str, slot: EngagementRequest) -> HandlerResult:
    """The same, answering with a HandlerResult whose reason is stored with the slot."""
    outcome = Status(engage(profile_url=profile_url, name=name, slot=slot))
    return HandlerResult(outcome, "example handler: nothing was called")
