"""The planner package: plan generation, Redis state and the CLI.

``planner.Scheduler`` (and its seed-era alias ``planner.RateLimiter``) are the seed's
drop-in interface (seed section 5.3). They are resolved on first access so that
``import planner`` (every CLI command, every RQ job) stays cheap: the scheduler pulls in
numpy, redis and the whole service layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from planner.scheduler import RateLimiter, Scheduler

__all__ = ["RateLimiter", "Scheduler"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from planner import scheduler  # noqa: PLC0415 - deferred on purpose, see above

        return getattr(scheduler, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
