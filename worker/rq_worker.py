"""``rq worker engagements -w worker.rq_worker.EngagementWorker``: RQ's forking worker with
our job module imported once, in the parent.

Each job still runs in a freshly forked work horse (a crash or leak in a handler stays in
that horse), but the horse inherits the imports instead of spending seconds on numpy,
scipy and the handler's own modules before every action.
"""

from __future__ import annotations

from typing import Any

from rq import Worker


class EngagementWorker(Worker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        import worker.jobs  # noqa: F401, PLC0415 - the preload is the point

        super().__init__(*args, **kwargs)
