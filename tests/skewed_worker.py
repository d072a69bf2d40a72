"""``rq worker`` on a host whose wall clock is off: ``python -m tests.skewed_worker SKEW_S ARGS``.

Shifts this process's wall clock (``time.time``, ``datetime.now`` & co., inherited by the
work horses it forks) by ``SKEW_S`` seconds before RQ is imported, then runs
``rq worker ARGS``. ``time.monotonic`` is left alone: a wrong wall clock does not change
how fast time passes. Redis ``TIME``, which the scheduler's clock reads, is unaffected.
The fault suite's skewed hosts (tests/fault_harness.py) use the same function.
"""

from __future__ import annotations

import datetime as dt
import sys
import time


def skew_host_clock(offset_s: float) -> None:
    """Must run before anything imports ``datetime.datetime`` by name."""
    real_time, real_time_ns = time.time, time.time_ns
    time.time = lambda: real_time() + offset_s
    time.time_ns = lambda: real_time_ns() + int(offset_s * 1e9)
    original = dt.datetime
    shift = dt.timedelta(seconds=offset_s)

    class _Meta(type):
        def __instancecheck__(cls, obj: object) -> bool:
            return isinstance(obj, original)

        def __subclasscheck__(cls, sub: type) -> bool:
            return issubclass(sub, original)

    class SkewedDatetime(original, metaclass=_Meta):  # type: ignore[misc]
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> dt.datetime:
            return original.now(tz) + shift

        @classmethod
        def utcnow(cls) -> dt.datetime:
            return original.now(dt.UTC).replace(tzinfo=None) + shift

        @classmethod
        def today(cls) -> dt.datetime:
            return original.now() + shift

    dt.datetime = SkewedDatetime  # type: ignore[misc]


def main() -> None:
    skew_host_clock(float(sys.argv[1]))
    from rq.cli import main as rq_main

    import tests.procs  # noqa: F401 - preloads worker.jobs (TESTS_PRELOAD_JOBS)

    sys.argv = ["rq", "worker", *sys.argv[2:]]
    rq_main()


if __name__ == "__main__":
    main()
