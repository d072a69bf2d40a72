"""Turning whatever a handler returns (or raises) into a HandlerResult.

The outcome map is the seed's (section 5.1): success -> done; the error codes
``already_reacted`` and ``no_posts`` map to themselves; anything else is failed. A reply
that cannot be read is failed too, with the reason stored, so a confused handler never
crashes the worker and never counts as an engagement it may not have made.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable, Mapping

from planner.weekly_plan import HANDLER_OUTCOMES, Status

from .base import (
    OUTCOME_NAMES,
    EngagementRequest,
    Handler,
    HandlerResult,
    clean_reason,
    redact,
)

logger = logging.getLogger(__name__)

_ALIASES: dict[str, Status] = {
    "done": Status.DONE,
    "success": Status.DONE,
    "failed": Status.FAILED,
    "already_reacted": Status.ALREADY_REACTED,
    "no_posts": Status.NO_POSTS,
}

_SEED_ERROR_CODES: dict[str, Status] = {
    "already_reacted": Status.ALREADY_REACTED,
    "no_posts": Status.NO_POSTS,
}

_MESSAGE_FIELDS = ("reason", "error_message", "message", "error")
"""Where a seed-style result may carry a human-readable message, in order of preference."""

_EXPECTED = ", ".join(OUTCOME_NAMES)


def parse_outcome(value: object) -> Status | None:
    """The outcome an outcome string (or Status) names; None if it names none.

    Case and surrounding blanks are ignored; "success" is an alias of "done".
    """
    if isinstance(value, Status):
        return value if value in HANDLER_OUTCOMES else None
    if isinstance(value, str):
        return _ALIASES.get(value.strip().lower())
    return None


def normalise_reply(value: object) -> HandlerResult:
    """Map anything a user handler may return to a HandlerResult; never raises.

    Accepted: a HandlerResult; an outcome string ("done"/"success", "failed",
    "already_reacted", "no_posts"); a mapping with ``outcome`` (and optional ``reason``);
    a mapping or object with ``success: bool`` and ``error_code: str | None`` like the
    seed's engagement result. Anything else is failed, with a reason saying what came back.
    """
    if isinstance(value, HandlerResult):
        return HandlerResult(value.outcome, clean_reason(value.reason))
    if isinstance(value, str):  # Status is a str too
        outcome = parse_outcome(value)
        if outcome is None:
            return HandlerResult.failed(
                clean_reason(f"unknown outcome {str(value)!r} (expected one of {_EXPECTED})")
            )
        return HandlerResult(outcome)
    if isinstance(value, Mapping):
        return _from_mapping(value)
    if value is None or isinstance(value, bool | int | float | bytes | list | tuple):
        # bool in particular: True is too easy to misread as "engaged"; demand an outcome.
        return HandlerResult.failed(
            clean_reason(
                f"handler returned {type(value).__name__} {value!r}; expected an outcome "
                f"string, a result with success/error_code, or a HandlerResult"
            )
        )
    if hasattr(value, "success"):
        return _seed_style(
            getattr(value, "success", None),
            getattr(value, "error_code", None),
            _first_message(getattr(value, name, None) for name in _MESSAGE_FIELDS),
        )
    return HandlerResult.failed(
        clean_reason(
            f"handler returned an unsupported {type(value).__name__}; expected an outcome "
            f"string, a result with success/error_code, or a HandlerResult"
        )
    )


def _from_mapping(value: Mapping[object, object]) -> HandlerResult:
    if "outcome" in value:
        outcome = parse_outcome(value["outcome"])
        if outcome is None:
            return HandlerResult.failed(
                clean_reason(f"unknown outcome {value['outcome']!r} (expected one of {_EXPECTED})")
            )
        reason = value.get("reason", "")
        return HandlerResult(outcome, clean_reason(reason if isinstance(reason, str) else ""))
    if "success" in value:
        return _seed_style(
            value["success"],
            value.get("error_code"),
            _first_message(value.get(name) for name in _MESSAGE_FIELDS),
        )
    keys = ", ".join(sorted(repr(k) for k in value)[:8])
    return HandlerResult.failed(
        clean_reason(f"handler returned a mapping without 'outcome' or 'success' (keys: {keys})")
    )


def _seed_style(success: object, error_code: object, message: str) -> HandlerResult:
    """The seed's section 5.1 map, with a reason for every non-done outcome."""
    if not isinstance(success, bool):
        return HandlerResult.failed(
            clean_reason(f"result.success is {type(success).__name__} {success!r}, not a bool")
        )
    if success:
        return HandlerResult(Status.DONE)
    if error_code is not None and not isinstance(error_code, str):
        return HandlerResult.failed(
            clean_reason(f"result.error_code is {type(error_code).__name__}, not a str")
        )
    mapped = _SEED_ERROR_CODES.get(error_code.strip().lower()) if error_code else None
    if mapped is not None:
        return HandlerResult(mapped, clean_reason(message))
    code = f"error_code {error_code!r}" if error_code else "no error_code"
    return HandlerResult.failed(clean_reason(f"{code}: {message}" if message else code))


def _first_message(candidates: Iterable[object]) -> str:
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            return candidate
    return ""


def call_handler(
    handler: Handler, request: EngagementRequest, *, secrets: Iterable[str] = ()
) -> HandlerResult:
    """Run ``handler`` once for ``request``; never raises.

    An exception becomes failed with ``"<Type>: <message>"`` (truncated, redacted); a
    return value that is not a HandlerResult goes through ``normalise_reply``. ``secrets``
    are values to strip from reasons and logs on top of the built-in credential patterns.
    Only ``Exception`` is caught: KeyboardInterrupt and SystemExit still stop the worker.
    """
    secret_values = tuple(secrets)
    try:
        value: object = handler(request)
    except Exception as exc:
        reason = clean_reason(_describe(exc), secret_values)
        # The traceback is what a user debugging their handler needs; it goes through the
        # same redaction as the reason because exception text is where secrets leak.
        try:
            trace = "".join(traceback.format_exception(exc))
        except Exception:
            trace = "(traceback unavailable)"
        logger.warning(
            "handler raised for slot %s: %s\n%s",
            request.slot_id,
            reason,
            _redact_lines(trace, secret_values),
        )
        return HandlerResult.failed(reason)
    result = normalise_reply(value)
    if result.reason:
        result = HandlerResult(result.outcome, clean_reason(result.reason, secret_values))
    if result.outcome is Status.FAILED:
        logger.info("handler reported failed for slot %s: %s", request.slot_id, result.reason)
    return result


def _describe(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"
    except Exception:  # an exception whose __str__ fails must still become a reason
        return f"{type(exc).__name__} (message unreadable)"


def _redact_lines(text: str, secrets: Iterable[str] = ()) -> str:
    """Redact a multi-line text (a traceback) line by line, keeping its shape for logs."""
    return "\n".join(redact(line, secrets) for line in text.splitlines())
