"""The webhook handler (``HANDLER="webhook"``): one signed HTTP POST per slot, e.g. an n8n flow.

Request: ``POST WEBHOOK_URL`` with a JSON body holding the EngagementRequest fields
(``account``, ``slot_id``, ``linkedin_url``, ``name``, ``scheduled_at``, ``attempt``,
``forced``, ``dry_run``) plus ``sent_at`` (ISO 8601 UTC, whole seconds), and the headers

* ``X-Signature-256: sha256=<hex HMAC-SHA256 of the raw body, key WEBHOOK_SECRET>``
* ``X-Timestamp: <sent_at as Unix seconds>``
* ``Idempotency-Key: <slot_id>`` (a slot is run at most once: a receiver that sees a key
  twice should not act twice)

How a receiver verifies a request:

1. take the raw body bytes exactly as received (before any JSON parsing: re-serialising
   changes the bytes and breaks the signature);
2. compute ``"sha256=" + hex(HMAC-SHA256(key=WEBHOOK_SECRET as UTF-8, msg=raw body))`` and
   compare it with ``X-Signature-256`` in constant time (Python: ``hmac.compare_digest``;
   ``verify_signature`` below does steps 1-2);
3. refuse a request whose ``X-Timestamp`` is more than a few minutes from its own clock,
   or differs from the body's ``sent_at`` (the body, hence ``sent_at``, is what is signed);
4. refuse an ``Idempotency-Key`` it has already acted on.

In n8n: a Webhook node with "Raw Body" on, then a Crypto node (HMAC, SHA256, hex) over the
raw body and an IF node comparing with the header.

Reply: HTTP 2xx with the JSON ``{"outcome": "done" | "failed" | "already_reacted" |
"no_posts", "reason": "optional text"}``. Anything else is ``failed`` with the reason
stored: "webhook HTTP 500", "webhook timeout after 30s", "webhook reply is not JSON", ...
There are no retries: after a timeout the receiver may still have acted, and a retry could
engage twice. Redirects are not followed for the same reason.

Keep secrets out of WEBHOOK_URL (httpx logs request URLs at INFO); WEBHOOK_SECRET is never
sent, logged, or put in a reason or a repr.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import SecretStr

from planner.clock import Clock, ensure_aware_utc, system_clock
from planner.weekly_plan import Status

from .base import OUTCOME_NAMES, EngagementRequest, HandlerConfigError, HandlerResult, clean_reason
from .outcomes import parse_outcome

if TYPE_CHECKING:
    from config.settings import Settings

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Signature-256"
TIMESTAMP_HEADER = "X-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
USER_AGENT = "engagement-scheduler/0.1"


def sign_body(secret: SecretStr | str | bytes, body: bytes) -> str:
    """The ``X-Signature-256`` value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    if isinstance(secret, SecretStr):
        secret = secret.get_secret_value()
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_signature(secret: SecretStr | str | bytes, body: bytes, header: str | None) -> bool:
    """True if ``header`` is the signature of the raw ``body`` with ``secret`` (constant time)."""
    if not header:
        return False
    return hmac.compare_digest(sign_body(secret, body).encode(), header.strip().encode())


def encode_body(request: EngagementRequest, sent_at: datetime) -> bytes:
    """The exact bytes that are sent and signed (compact, sorted keys, UTF-8)."""
    payload: dict[str, Any] = request.to_json()
    payload["sent_at"] = sent_at.isoformat()
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


class WebhookHandler:
    """POSTs each request to a URL, signed; the JSON reply names the outcome."""

    def __init__(
        self,
        url: str,
        secret: SecretStr,
        *,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 30.0,
        http_client: httpx.Client | None = None,
        clock: Clock = system_clock,
    ) -> None:
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise HandlerConfigError("WEBHOOK_URL is not a valid URL") from exc
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise HandlerConfigError(
                f"WEBHOOK_URL must be an http(s) URL with a host, got scheme {parsed.scheme!r}"
            )
        if not secret.get_secret_value():
            raise HandlerConfigError(
                "HANDLER='webhook' needs WEBHOOK_SECRET: requests are signed with it so the "
                "receiver can refuse anyone else"
            )
        if connect_timeout_s <= 0 or read_timeout_s <= 0:
            raise HandlerConfigError("webhook timeouts must be > 0 seconds")
        self._url = parsed
        self._secret = secret
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        # Write and pool waits get the read/connect budgets: no phase may hang the worker.
        self._timeout = httpx.Timeout(
            connect=connect_timeout_s,
            read=read_timeout_s,
            write=read_timeout_s,
            pool=connect_timeout_s,
        )
        self._owns_client = http_client is None
        self._client = http_client if http_client is not None else httpx.Client()
        self._clock = clock

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        http_client: httpx.Client | None = None,
        clock: Clock = system_clock,
    ) -> WebhookHandler:
        if not settings.WEBHOOK_URL:
            raise HandlerConfigError("HANDLER='webhook' needs WEBHOOK_URL")
        return cls(
            settings.WEBHOOK_URL,
            settings.WEBHOOK_SECRET,
            connect_timeout_s=settings.WEBHOOK_CONNECT_TIMEOUT_S,
            read_timeout_s=settings.WEBHOOK_READ_TIMEOUT_S,
            http_client=http_client,
            clock=clock,
        )

    @property
    def display_url(self) -> str:
        """Scheme, host and port only: paths and queries of webhook URLs often act as keys."""
        port = f":{self._url.port}" if self._url.port else ""
        return f"{self._url.scheme}://{self._url.host}{port}"

    def __call__(self, request: EngagementRequest) -> HandlerResult:
        sent_at = ensure_aware_utc(self._clock(), what="webhook clock").replace(microsecond=0)
        body = encode_body(request, sent_at)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: sign_body(self._secret, body),
            TIMESTAMP_HEADER: str(int(sent_at.timestamp())),
            IDEMPOTENCY_HEADER: request.slot_id,
        }
        started = time.monotonic()
        try:
            response = self._client.post(
                self._url,
                content=body,
                headers=headers,
                timeout=self._timeout,
                follow_redirects=False,
            )
        except httpx.ConnectTimeout:
            return self._fail(
                request, f"webhook connect timeout after {self._connect_timeout_s:g}s"
            )
        except httpx.ReadTimeout:
            return self._fail(request, f"webhook timeout after {self._read_timeout_s:g}s")
        except httpx.TimeoutException as exc:
            return self._fail(request, f"webhook timeout ({type(exc).__name__})")
        except httpx.ConnectError as exc:
            return self._fail(request, f"webhook connection failed: {exc}")
        except Exception as exc:  # never let a transport oddity reach RQ's failure path
            return self._fail(request, f"webhook error: {type(exc).__name__}: {exc}")
        elapsed_ms = (time.monotonic() - started) * 1000
        result = self._read_reply(response)
        log = logger.info if result.outcome is not Status.FAILED else logger.warning
        log(
            "webhook %s: slot %s -> %s (HTTP %d, %.0f ms)%s",
            self.display_url,
            request.slot_id,
            result.outcome,
            response.status_code,
            elapsed_ms,
            f": {result.reason}" if result.reason else "",
        )
        return result

    def _read_reply(self, response: httpx.Response) -> HandlerResult:
        if not 200 <= response.status_code < 300:
            return HandlerResult.failed(f"webhook HTTP {response.status_code}")
        try:
            reply = json.loads(response.content)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
            return HandlerResult.failed("webhook reply is not JSON")
        if not isinstance(reply, dict):
            return HandlerResult.failed("webhook reply is not a JSON object")
        if "outcome" not in reply:
            return HandlerResult.failed("webhook reply has no 'outcome'")
        outcome = parse_outcome(reply["outcome"])
        if outcome is None:
            return HandlerResult.failed(
                self._scrub(
                    f"webhook reply outcome {reply['outcome']!r} is unknown "
                    f"(expected one of {', '.join(OUTCOME_NAMES)})"
                )
            )
        reason = reply.get("reason")
        return HandlerResult(outcome, self._scrub(reason) if isinstance(reason, str) else "")

    def _fail(self, request: EngagementRequest, reason: str) -> HandlerResult:
        reason = self._scrub(reason)
        logger.warning(
            "webhook %s: slot %s -> failed: %s", self.display_url, request.slot_id, reason
        )
        return HandlerResult.failed(reason)

    def _scrub(self, text: str) -> str:
        # The secret is read here too, only to make sure no echo of it is ever stored.
        hidden = [self._secret.get_secret_value(), str(self._url), self._url.password or ""]
        # Query values long enough to be keys (short ones like "1" would blank out digits).
        hidden += [value for _, value in self._url.params.multi_items() if len(value) >= 6]
        return clean_reason(text, hidden)

    def close(self) -> None:
        """Close the HTTP client if this handler created it."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> WebhookHandler:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"WebhookHandler(url={self.display_url!r}, secret=SecretStr('**********'))"
