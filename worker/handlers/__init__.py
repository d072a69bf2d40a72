"""Engagement handlers: who performs the action of a slot, chosen by ``HANDLER``.

* ``dry-run`` (default): no external effect; logs what would happen (``DryRunHandler``).
* ``python:package.module:callable``: a user callable, sync or async
  (``PythonCallableHandler``; see that module for the signature and accepted replies).
* ``webhook``: a signed HTTP POST, e.g. to an n8n flow (``WebhookHandler``; see that
  module for the body, the headers and how a receiver verifies them).

The worker builds one handler at start (``build_handler``) and runs each slot through
``call_handler``, which never raises: a handler exception or an unreadable reply is a
``failed`` outcome with the reason stored, never a crash. The engagement itself is the
user's code; nothing here talks to the remote site.
"""

from __future__ import annotations

import httpx
import numpy as np

from config.settings import Settings
from planner.clock import Clock, system_clock

from .base import (
    MAX_REASON_CHARS,
    OUTCOME_NAMES,
    EngagementRequest,
    Handler,
    HandlerConfigError,
    HandlerError,
    HandlerResult,
    clean_reason,
    redact,
)
from .dry_run import DryRunHandler, OutcomeMix
from .outcomes import call_handler, normalise_reply, parse_outcome
from .python_callable import PythonCallableHandler, import_callable
from .webhook import WebhookHandler, encode_body, sign_body, verify_signature


def build_handler(
    settings: Settings,
    *,
    rng: np.random.Generator | None = None,
    http_client: httpx.Client | None = None,
    dry_run_mix: OutcomeMix | None = None,
    clock: Clock = system_clock,
) -> Handler:
    """The handler ``settings.HANDLER`` names, ready to call.

    ``rng`` and ``dry_run_mix`` serve the dry-run handler (a mix draws demo outcomes);
    ``http_client`` and ``clock`` serve the webhook handler. Raises HandlerConfigError,
    naming the setting, when the handler cannot be used (bad import path, no URL or secret).
    """
    name = settings.HANDLER
    if name == "dry-run":
        return DryRunHandler(mix=dry_run_mix, rng=rng)
    if name == "webhook":
        return WebhookHandler.from_settings(settings, http_client=http_client, clock=clock)
    if name.startswith("python:"):
        return PythonCallableHandler.from_path(name)
    raise HandlerConfigError(
        f"HANDLER={name!r}: expected 'dry-run', 'webhook' or 'python:package.module:callable'"
    )


__all__ = [
    "MAX_REASON_CHARS",
    "OUTCOME_NAMES",
    "DryRunHandler",
    "EngagementRequest",
    "Handler",
    "HandlerConfigError",
    "HandlerError",
    "HandlerResult",
    "OutcomeMix",
    "PythonCallableHandler",
    "WebhookHandler",
    "build_handler",
    "call_handler",
    "clean_reason",
    "encode_body",
    "import_callable",
    "normalise_reply",
    "parse_outcome",
    "redact",
    "sign_body",
    "verify_signature",
]
