"""The default handler: no external effect, it only logs what would happen."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import numpy as np

from planner.weekly_plan import Status

from .base import OUTCOME_NAMES, EngagementRequest, HandlerConfigError, HandlerResult
from .outcomes import parse_outcome

logger = logging.getLogger(__name__)

OutcomeMix = Mapping[str, float]
"""Relative weights of outcomes, e.g. {"done": .8, "failed": .1, "already_reacted": .05,
"no_posts": .05}; normalised, so {"done": 8, "failed": 2} works too."""


class DryRunHandler:
    """Pretends to engage: logs the request and answers ``done``.

    With a ``mix`` (for demos and simulations) it draws each outcome from it instead, with
    ``rng`` (seed it for reproducible runs; a numpy Generator is not thread-safe, so use one
    handler per thread).
    """

    def __init__(
        self, mix: OutcomeMix | None = None, rng: np.random.Generator | None = None
    ) -> None:
        self._outcomes, self._probabilities = _parse_mix(mix) if mix else ((), ())
        self._rng = rng if rng is not None else np.random.default_rng()

    @property
    def mix(self) -> dict[str, float]:
        """The normalised mix (empty: always done)."""
        return {str(o): p for o, p in zip(self._outcomes, self._probabilities, strict=True)}

    def __call__(self, request: EngagementRequest) -> HandlerResult:
        outcome = self._draw()
        logger.info(
            "dry-run: would engage %s <%s> for slot %s (account %s, scheduled %s, attempt %d%s)"
            " -> %s",
            request.name,
            request.linkedin_url,
            request.slot_id,
            request.account,
            request.scheduled_at.isoformat(),
            request.attempt,
            ", forced" if request.forced else "",
            outcome,
        )
        reason = "dry-run" if not self._outcomes else f"dry-run: simulated {outcome}"
        return HandlerResult(outcome, reason)

    def _draw(self) -> Status:
        if not self._outcomes:
            return Status.DONE
        # Inverse CDF on one uniform: one draw per call, so a seeded run is reproducible
        # whatever the mix.
        u = self._rng.random()
        acc = 0.0
        for outcome, p in zip(self._outcomes, self._probabilities, strict=True):
            acc += p
            if u < acc:
                return outcome
        return self._outcomes[-1]  # u rounds past the last cumulative sum

    def __repr__(self) -> str:
        return f"DryRunHandler(mix={self.mix or None})"


def _parse_mix(mix: OutcomeMix) -> tuple[tuple[Status, ...], tuple[float, ...]]:
    weights: dict[Status, float] = {}
    for key, raw in mix.items():
        outcome = parse_outcome(key)
        if outcome is None or key.strip().lower() == "success":
            raise HandlerConfigError(
                f"dry-run outcome mix: unknown outcome {key!r} "
                f"(expected {', '.join(OUTCOME_NAMES)})"
            )
        try:
            weight = float(raw)
        except (TypeError, ValueError) as exc:
            raise HandlerConfigError(f"dry-run outcome mix: {key}={raw!r} is not a number") from exc
        if not math.isfinite(weight) or weight < 0:
            raise HandlerConfigError(f"dry-run outcome mix: {key}={raw!r} must be >= 0")
        weights[outcome] = weights.get(outcome, 0.0) + weight
    total = sum(weights.values())
    if total <= 0:
        raise HandlerConfigError("dry-run outcome mix: the weights sum to 0")
    # Fixed order, not the caller's dict order, so the same weights and seed give the same
    # outcomes however the mix was written.
    ordered = [Status(n) for n in OUTCOME_NAMES if weights.get(Status(n), 0.0) > 0]
    return tuple(ordered), tuple(weights[o] / total for o in ordered)
