"""``rq worker engagements -w worker.rq_worker.EngagementWorker``: RQ's forking worker with
our job module imported, and the runtime built, once in the parent.

Each job still runs in a freshly forked work horse (a crash or leak in a handler stays in
that horse), but the horse inherits the imports and the runtime (settings read and
validated, handler built, Redis client) instead of redoing them before every action. A
horse's Redis client reconnects by itself (redis-py notices the new process id). Bad
settings stop the worker at start, with the message, rather than failing every job.
"""

from __future__ import annotations

from typing import Any

from rq import Worker


class EngagementWorker(Worker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from worker.runtime import runtime  # noqa: PLC0415 - the preload is the point

        runtime()
        super().__init__(*args, **kwargs)
