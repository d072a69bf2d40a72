"""What one benchmark entry reports, and how numbers are timed."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Entry:
    """One measured value, its target and (where there is one) its same-run baseline.

    ``target`` bounds the value (or, with ``on_ratio``, value / baseline) from above unless
    ``higher_is_better``; an entry without a target is informational and always passes.
    """

    name: str
    value: float
    unit: str
    target: float | None = None
    higher_is_better: bool = False
    on_ratio: bool = False
    baseline: float | None = None
    baseline_what: str = ""
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    @property
    def passed(self) -> bool:
        if self.target is None:
            return True
        measured = self.ratio if self.on_ratio else self.value
        if measured is None:
            return False
        return measured >= self.target if self.higher_is_better else measured <= self.target

    @property
    def target_text(self) -> str | None:
        if self.target is None:
            return None
        bound = f"{'>=' if self.higher_is_better else '<='} {self.target:g}"
        return f"ratio {bound}" if self.on_ratio else f"{bound} {self.unit}"

    def to_json(self) -> dict[str, Any]:
        ratio = self.ratio
        return {
            "value": round(self.value, 6),
            "unit": self.unit,
            "target": self.target_text,
            "baseline": None if self.baseline is None else round(self.baseline, 6),
            "ratio": None if ratio is None else round(ratio, 4),
            "pass": self.passed,
        }


def median_time(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls of ``fn`` (seconds), after one untimed call."""
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def timed(fn: Callable[[], object]) -> float:
    """Wall time of one call of ``fn`` (seconds)."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started
