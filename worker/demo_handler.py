"""The demo's handler: the dry run with an outcome mix, plus a tally of every call.

``python -m planner demo`` points HANDLER here so the closing summary can be measured from
what actually ran: each call increments ``eng:{demo}:calls`` for its slot id, so a slot
whose handler ran twice would show up as a double execution.
"""

from __future__ import annotations

from functools import lru_cache

from planner import keys
from worker.handlers import DryRunHandler, EngagementRequest, HandlerResult
from worker.runtime import runtime


@lru_cache(maxsize=1)
def _dry_run() -> DryRunHandler:
    rt = runtime()
    return DryRunHandler(mix=rt.settings.DRY_RUN_MIX or None, rng=rt.rng)


def handle(*, profile_url: str, name: str, slot: EngagementRequest) -> HandlerResult:
    """Count the call, then answer like the dry-run handler."""
    runtime().client.hincrby(keys.demo_calls(slot.account), slot.slot_id, 1)
    return _dry_run()(slot)
