"""What a handler is told, what it answers, and the errors of the handler layer.

A handler is any callable ``EngagementRequest -> HandlerResult``. It performs (or, for the
dry-run handler, pretends to perform) one engagement for one slot. The scheduler calls it
at most once per slot, so a handler must never retry on its own: a retry after an unclear
failure could engage twice, and engaging twice can undo a like.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from planner.weekly_plan import HANDLER_OUTCOMES, Status

if TYPE_CHECKING:
    from planner.weekly_plan import ScheduledEngagement

MAX_REASON_CHARS = 500
"""Longest reason stored with a slot; longer ones are cut (a traceback is not a reason)."""

OUTCOME_NAMES = ("done", "failed", "already_reacted", "no_posts")
"""The handler outcomes in a fixed order (draws and messages must not depend on set order)."""


class HandlerError(Exception):
    """Raised when the handler layer itself cannot work (not when an engagement fails)."""


class HandlerConfigError(HandlerError, ValueError):
    """Raised at build time when the configured handler cannot be used; names the setting."""


@dataclass(frozen=True)
class EngagementRequest:
    """Everything a handler is told about one slot. JSON-serialisable; carries no secrets.

    ``attempt`` counts how many times this slot was handed to a handler, this one included
    (the scheduler guarantees it stays 1 for a slot, but a receiver can log it).
    ``dry_run`` asks for no external effect: a handler that cannot honour it must not act.
    """

    account: str
    slot_id: str
    linkedin_url: str
    name: str
    scheduled_at: datetime
    attempt: int
    forced: bool
    dry_run: bool

    def __post_init__(self) -> None:
        if self.scheduled_at.tzinfo is None or self.scheduled_at.utcoffset() is None:
            raise ValueError(
                f"EngagementRequest.scheduled_at must be timezone-aware, got "
                f"{self.scheduled_at.isoformat()}"
            )
        # Normalise to UTC so the JSON body (and its signature) does not depend on the zone
        # the caller happened to use.
        object.__setattr__(self, "scheduled_at", self.scheduled_at.astimezone(UTC))
        if self.attempt < 0:
            raise ValueError(f"EngagementRequest.attempt must be >= 0, got {self.attempt}")

    @classmethod
    def from_slot(
        cls, account: str, slot: ScheduledEngagement, *, attempt: int, dry_run: bool = False
    ) -> EngagementRequest:
        """The request for a stored slot of ``account``."""
        return cls(
            account=account,
            slot_id=slot.slot_id,
            linkedin_url=slot.linkedin_url,
            name=slot.name,
            scheduled_at=slot.scheduled_at,
            attempt=attempt,
            forced=slot.forced,
            dry_run=dry_run,
        )

    def to_json(self) -> dict[str, Any]:
        """The request as a JSON object (``scheduled_at`` as ISO 8601 UTC)."""
        return {
            "account": self.account,
            "slot_id": self.slot_id,
            "linkedin_url": self.linkedin_url,
            "name": self.name,
            "scheduled_at": self.scheduled_at.isoformat(),
            "attempt": self.attempt,
            "forced": self.forced,
            "dry_run": self.dry_run,
        }


@dataclass(frozen=True)
class HandlerResult:
    """What a handler reports: one of HANDLER_OUTCOMES and a short reason (never secrets)."""

    outcome: Status
    reason: str = ""

    def __post_init__(self) -> None:
        try:
            outcome = Status(self.outcome)
        except ValueError:
            outcome = None
        if outcome not in HANDLER_OUTCOMES:
            raise ValueError(
                f"HandlerResult.outcome {self.outcome!r} is not one of {', '.join(OUTCOME_NAMES)}"
            )
        if not isinstance(self.reason, str):
            raise ValueError(f"HandlerResult.reason must be a str, got {type(self.reason)}")
        # A plain "done" string is accepted and stored as the enum member, so callers can
        # compare with ``is``.
        object.__setattr__(self, "outcome", outcome)

    @classmethod
    def failed(cls, reason: str) -> HandlerResult:
        return cls(Status.FAILED, reason)


Handler = Callable[[EngagementRequest], HandlerResult]
"""A handler: called once per executed slot; may raise (``call_handler`` turns it into failed)."""


# ---- keeping secrets out of reasons and logs --------------------------------------------

_URL_USERINFO = re.compile(r"(?<=://)[^/\s@]+@")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}")
_KEY_VALUE = re.compile(
    r"(?i)\b([a-z0-9_-]*(?:password|passwd|secret|token|api[_-]?key|access[_-]?key|"
    r"authorization|cookie|session)[a-z0-9_-]*)"
    r"(\"?'?\s*[=:]\s*\"?'?)"
    r"([^\s\"'&,;]+)"
)
REDACTED = "***"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without the given secret values and without credential-looking parts.

    The patterns catch what an exception message from a user's handler typically leaks:
    ``user:password@`` in a URL, ``Bearer <token>``, and ``token=...`` / ``"api_key": ...``.
    """
    # Longest first, so a secret that contains another is removed whole.
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _URL_USERINFO.sub(REDACTED + "@", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _KEY_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


def clean_reason(text: str, secrets: Iterable[str] = ()) -> str:
    """A reason fit to store with a slot: one line, redacted, at most MAX_REASON_CHARS."""
    text = " ".join(redact(text, secrets).split())
    if len(text) > MAX_REASON_CHARS:
        text = text[: MAX_REASON_CHARS - 3] + "..."
    return text
