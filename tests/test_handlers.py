"""Engagement handlers: dry-run, a Python callable by import path, and a signed webhook.

The webhook tests run against a real HTTP server on 127.0.0.1 (tests/webhook_server.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from pydantic import SecretStr

from config.settings import Settings
from planner.clock import FrozenClock
from planner.redis_server import free_port
from planner.weekly_plan import HANDLER_OUTCOMES, ScheduledEngagement, Status
from tests.webhook_server import Reply, WebhookServer, expected_signature
from worker.handlers import (
    MAX_REASON_CHARS,
    DryRunHandler,
    EngagementRequest,
    HandlerConfigError,
    HandlerResult,
    PythonCallableHandler,
    WebhookHandler,
    build_handler,
    call_handler,
    import_callable,
    normalise_reply,
    verify_signature,
)

SECRET = "s3cr3t-W3bh00k-Key-9f2c"
SENT_AT = datetime(2026, 2, 9, 10, 15, 42, 123456, tzinfo=UTC)


def make_request(**changes: Any) -> EngagementRequest:
    fields: dict[str, Any] = {
        "account": "acme",
        "slot_id": "acme-20260209-003",
        "linkedin_url": "https://www.linkedin.com/in/ada-lovelace",
        "name": "Ada Lovelace",
        "scheduled_at": datetime(2026, 2, 9, 10, 15, tzinfo=UTC),
        "attempt": 1,
        "forced": False,
        "dry_run": False,
    }
    fields.update(changes)
    return EngagementRequest(**fields)


def make_settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


# ---- user handlers imported by path in the tests below ----------------------------------

calls_seen: list[dict[str, Any]] = []


def record_and_succeed(*, profile_url: str, name: str, slot: EngagementRequest) -> str:
    calls_seen.append({"profile_url": profile_url, "name": name, "slot": slot})
    return "done"


async def async_no_posts(*, profile_url: str, name: str, slot: EngagementRequest) -> str:
    await asyncio.sleep(0)
    return "no_posts"


def raises_with_token(*, profile_url: str, name: str, slot: EngagementRequest) -> str:
    raise RuntimeError("login failed for https://bot:hunter2pass@example.test?token=abc123xyz")


def wrong_signature(url: str) -> str:
    return "done"


NOT_CALLABLE = 42


@dataclass
class SeedEngagementResult:
    """Shaped like the seed engine's result object."""

    success: bool
    error_code: str | None = None
    error_message: str | None = None


@pytest.fixture(autouse=True)
def _clear_calls() -> Iterator[None]:
    calls_seen.clear()
    yield
    calls_seen.clear()


# ---- request and result types -----------------------------------------------------------


def test_request_is_json_serialisable_and_utc() -> None:
    """A request round-trips through JSON with its instant normalised to UTC."""
    local = datetime(2026, 2, 9, 11, 15, tzinfo=UTC).astimezone()
    request = make_request(scheduled_at=local)
    data = json.loads(json.dumps(request.to_json()))
    assert data["scheduled_at"] == "2026-02-09T11:15:00+00:00"
    assert set(data) == {
        "account",
        "slot_id",
        "linkedin_url",
        "name",
        "scheduled_at",
        "attempt",
        "forced",
        "dry_run",
    }


def test_request_refuses_naive_time() -> None:
    """A naive scheduled_at is refused: its zone would be a guess."""
    with pytest.raises(ValueError, match="timezone-aware"):
        make_request(scheduled_at=datetime(2026, 2, 9, 10, 15))


def test_request_from_slot() -> None:
    """from_slot copies a stored slot's fields into the request."""
    slot = ScheduledEngagement(
        slot_id="acme-20260209-000",
        index=0,
        linkedin_url="https://www.linkedin.com/in/x",
        name="X",
        scheduled_time="10:15",
        scheduled_at=datetime(2026, 2, 9, 10, 15, tzinfo=UTC),
        priority_score=3.0,
        days_since_last_like=13.0,
        forced=True,
    )
    request = EngagementRequest.from_slot("acme", slot, attempt=1, dry_run=True)
    assert (request.slot_id, request.forced, request.dry_run) == ("acme-20260209-000", True, True)


def test_result_refuses_non_handler_outcome() -> None:
    """A HandlerResult can only carry one of the four handler outcomes."""
    with pytest.raises(ValueError, match="not one of"):
        HandlerResult(Status.PENDING)
    assert HandlerResult("done").outcome is Status.DONE  # type: ignore[arg-type]


# ---- normalise_reply ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "outcome"),
    [
        ("done", Status.DONE),
        ("success", Status.DONE),
        (" Done\n", Status.DONE),
        ("failed", Status.FAILED),
        ("already_reacted", Status.ALREADY_REACTED),
        ("no_posts", Status.NO_POSTS),
        (Status.NO_POSTS, Status.NO_POSTS),
        (HandlerResult(Status.ALREADY_REACTED, "seen"), Status.ALREADY_REACTED),
        ({"outcome": "no_posts", "reason": "empty feed"}, Status.NO_POSTS),
        ({"success": True, "error_code": None}, Status.DONE),
        ({"success": False, "error_code": "already_reacted"}, Status.ALREADY_REACTED),
        (SeedEngagementResult(True), Status.DONE),
        (SeedEngagementResult(True, "no_posts"), Status.DONE),
        (SeedEngagementResult(False, "already_reacted"), Status.ALREADY_REACTED),
        (SeedEngagementResult(False, "no_posts"), Status.NO_POSTS),
    ],
)
def test_normalise_reply_maps_known_replies(value: object, outcome: Status) -> None:
    """Outcome strings, mappings, seed-style results and HandlerResults map as in seed 5.1."""
    assert normalise_reply(value).outcome is outcome


@pytest.mark.parametrize(
    ("value", "reason_part"),
    [
        ("maybe", "unknown outcome 'maybe'"),
        ("pending", "unknown outcome 'pending'"),
        (Status.MISSED, "unknown outcome 'missed'"),
        ({"outcome": "later"}, "unknown outcome 'later'"),
        ({"result": "done"}, "without 'outcome' or 'success'"),
        ({"success": "yes"}, "not a bool"),
        (SeedEngagementResult(False, "captcha", "challenge page"), "'captcha': challenge page"),
        (SeedEngagementResult(False), "no error_code"),
        (None, "NoneType"),
        (True, "bool"),
        (object(), "unsupported object"),
    ],
)
def test_normalise_reply_fails_anything_else(value: object, reason_part: str) -> None:
    """Unknown or malformed replies are failed, with a reason saying what came back."""
    result = normalise_reply(value)
    assert result.outcome is Status.FAILED
    assert reason_part in result.reason


# ---- Python callable ------------------------------------------------------------------------


def test_python_handler_gets_keyword_arguments() -> None:
    """A sync callable by import path is called with profile_url, name and the slot."""
    handler = build_handler(make_settings(HANDLER="python:tests.test_handlers:record_and_succeed"))
    request = make_request()
    assert call_handler(handler, request) == HandlerResult(Status.DONE)
    expected = {"profile_url": request.linkedin_url, "name": "Ada Lovelace", "slot": request}
    assert calls_seen == [expected]


def test_python_handler_async() -> None:
    """An async callable is run to completion with asyncio.run."""
    handler = build_handler(make_settings(HANDLER="python:tests.test_handlers:async_no_posts"))
    assert call_handler(handler, make_request()).outcome is Status.NO_POSTS


@pytest.mark.parametrize(
    "reply",
    [
        "already_reacted",
        {"success": False, "error_code": "already_reacted"},
        SeedEngagementResult(False, "already_reacted"),
        HandlerResult(Status.ALREADY_REACTED),
    ],
)
def test_python_handler_reply_shapes(reply: object) -> None:
    """Strings, dicts, seed-style objects and HandlerResults all come back as outcomes."""
    handler = PythonCallableHandler(lambda **_: reply)
    assert call_handler(handler, make_request()).outcome is Status.ALREADY_REACTED


def test_python_handler_exception_is_failed_and_redacted(caplog: pytest.LogCaptureFixture) -> None:
    """An exception becomes failed with its message, credentials redacted in reason and logs."""
    caplog.set_level(logging.DEBUG)
    handler = build_handler(make_settings(HANDLER="python:tests.test_handlers:raises_with_token"))
    result = call_handler(handler, make_request())
    assert result.outcome is Status.FAILED
    assert result.reason.startswith("RuntimeError: login failed for https://***@example.test")
    for leaked in ("hunter2pass", "abc123xyz"):
        assert leaked not in result.reason
        assert leaked not in caplog.text
    assert "raises_with_token" in caplog.text  # the traceback is logged, redacted


def test_call_handler_redacts_given_secrets_and_truncates() -> None:
    """Secrets passed to call_handler never reach the reason; long messages are cut."""

    def boom(request: EngagementRequest) -> HandlerResult:
        raise ValueError(f"bad key {SECRET} " + "x" * 2000)

    result = call_handler(boom, make_request(), secrets=[SECRET])
    assert SECRET not in result.reason
    assert len(result.reason) == MAX_REASON_CHARS
    assert result.reason.endswith("...")


def test_call_handler_survives_unprintable_exceptions() -> None:
    """An exception whose message cannot be rendered is still a failed outcome."""

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    def boom(request: EngagementRequest) -> HandlerResult:
        raise Unprintable

    assert call_handler(boom, make_request()) == HandlerResult.failed(
        "Unprintable (message unreadable)"
    )


def test_call_handler_normalises_plain_callables() -> None:
    """A bare callable returning an outcome string works as a handler too."""
    assert call_handler(lambda _r: "success", make_request()).outcome is Status.DONE  # type: ignore[arg-type, return-value]


def test_async_handler_inside_running_loop_fails_cleanly() -> None:
    """An async handler called from a running event loop is failed, not a crash or warning."""
    handler = PythonCallableHandler(async_no_posts)

    async def inside() -> HandlerResult:
        return call_handler(handler, make_request())

    result = asyncio.run(inside())
    assert result.outcome is Status.FAILED
    assert "running event loop" in result.reason


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("python:tests.no_such_module:engage", "cannot import module 'tests.no_such_module'"),
        ("python:tests.test_handlers:missing", "'tests.test_handlers' has no attribute 'missing'"),
        ("python:tests.test_handlers:NOT_CALLABLE", "not callable"),
        ("python:tests.test_handlers:wrong_signature", "must accept keyword arguments"),
        ("python:tests/test_handlers:engage", "expected 'python:package.module:callable'"),
    ],
)
def test_bad_import_path_is_a_config_error(path: str, message: str) -> None:
    """A handler that cannot be imported fails at build time, naming the path."""
    with pytest.raises(HandlerConfigError) as info:
        build_handler(make_settings(HANDLER=path))
    assert message in str(info.value)
    assert "HANDLER=" in str(info.value) or "handler " in str(info.value)


def test_import_callable_accepts_dotted_attributes() -> None:
    """An attribute path after the colon is walked (e.g. a class's static method)."""
    assert import_callable("python:json:JSONDecoder.decode") is json.JSONDecoder.decode


def test_example_handler_plugs_in() -> None:
    """The shipped example handler builds by path and answers outcomes without side effects."""
    handler = build_handler(make_settings(HANDLER="python:examples.handler_example:engage"))
    assert call_handler(handler, make_request()).outcome is Status.DONE
    no_posts = make_request(linkedin_url="https://www.linkedin.com/in/quiet-no-posts/")
    assert call_handler(handler, no_posts).outcome is Status.NO_POSTS
    with_reason = build_handler(
        make_settings(HANDLER="python:examples.handler_example:engage_with_reason")
    )
    assert call_handler(with_reason, make_request()).reason == "example handler: nothing was called"


# ---- dry-run ----------------------------------------------------------------------------


def test_dry_run_is_the_default_and_answers_done(caplog: pytest.LogCaptureFixture) -> None:
    """The default handler logs what it would do and answers done."""
    caplog.set_level(logging.INFO, logger="worker.handlers")
    handler = build_handler(make_settings())
    assert isinstance(handler, DryRunHandler)
    result = call_handler(handler, make_request())
    assert result == HandlerResult(Status.DONE, "dry-run")
    assert "would engage Ada Lovelace" in caplog.text


def test_dry_run_mix_is_reproducible_with_a_seed() -> None:
    """The same mix and seed give the same outcome sequence, whatever the dict order."""
    mix = {"done": 0.8, "failed": 0.1, "already_reacted": 0.05, "no_posts": 0.05}
    reordered = dict(reversed(mix.items()))
    first = DryRunHandler(mix=mix, rng=np.random.default_rng(7))
    second = DryRunHandler(mix=reordered, rng=np.random.default_rng(7))
    request = make_request()
    assert [first(request).outcome for _ in range(200)] == [
        second(request).outcome for _ in range(200)
    ]


def test_dry_run_mix_shares() -> None:
    """Over many draws each outcome's share is close to its configured weight."""
    mix = {"done": 8, "failed": 1, "already_reacted": 0.5, "no_posts": 0.5}
    handler = DryRunHandler(mix=mix, rng=np.random.default_rng(20260209))
    n = 20_000
    outcomes = [handler(make_request()).outcome for _ in range(n)]
    for name, weight in mix.items():
        share = outcomes.count(Status(name)) / n
        expected = weight / 10
        # 4 binomial standard deviations: fails by chance about once in 15,000 runs.
        assert abs(share - expected) < 4 * (expected * (1 - expected) / n) ** 0.5
    assert set(outcomes) <= HANDLER_OUTCOMES


def test_build_handler_passes_the_dry_run_mix() -> None:
    """build_handler hands a mix and rng to the dry-run handler."""
    handler = build_handler(
        make_settings(), rng=np.random.default_rng(1), dry_run_mix={"failed": 1.0}
    )
    assert call_handler(handler, make_request()).outcome is Status.FAILED


@pytest.mark.parametrize(
    ("mix", "message"),
    [
        ({"skipped": 1.0}, "unknown outcome 'skipped'"),
        ({"success": 1.0}, "unknown outcome 'success'"),
        ({"done": -1.0}, "must be >= 0"),
        ({"done": float("nan")}, "must be >= 0"),
        ({"done": "lots"}, "not a number"),
        ({"done": 0.0}, "sum to 0"),
    ],
)
def test_dry_run_refuses_bad_mix(mix: dict[str, Any], message: str) -> None:
    """A malformed mix is refused when the handler is built."""
    with pytest.raises(HandlerConfigError, match=message):
        DryRunHandler(mix=mix)


# ---- webhook against a real local HTTP server ---------------------------------------------


@pytest.fixture
def server() -> Iterator[WebhookServer]:
    with WebhookServer(secret=SECRET) as running:
        yield running


def webhook_settings(url: str, **values: Any) -> Settings:
    fields: dict[str, Any] = {
        "HANDLER": "webhook",
        "WEBHOOK_URL": url,
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_CONNECT_TIMEOUT_S": 0.5,
        "WEBHOOK_READ_TIMEOUT_S": 0.2,
    }
    fields.update(values)
    return make_settings(**fields)


@pytest.fixture
def webhook(server: WebhookServer) -> Iterator[WebhookHandler]:
    handler = build_handler(webhook_settings(server.url), clock=FrozenClock(SENT_AT))
    assert isinstance(handler, WebhookHandler)
    with handler:
        yield handler


def test_webhook_good_reply(server: WebhookServer, webhook: WebhookHandler) -> None:
    """A 200 reply naming an outcome gives that outcome and its reason."""
    server.script(Reply(body={"outcome": "already_reacted", "reason": "liked last week"}))
    result = call_handler(webhook, make_request())
    assert result == HandlerResult(Status.ALREADY_REACTED, "liked last week")
    [received] = server.requests
    assert received.json() == {**make_request().to_json(), "sent_at": "2026-02-09T10:15:42+00:00"}
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["Idempotency-Key"] == "acme-20260209-003"
    assert received.headers["X-Timestamp"] == str(int(SENT_AT.replace(microsecond=0).timestamp()))


def test_webhook_signature_verified_by_server(
    server: WebhookServer, webhook: WebhookHandler
) -> None:
    """The server verifies the HMAC-SHA256 of the raw body with the shared secret."""
    call_handler(webhook, make_request())
    [received] = server.requests
    assert received.signature_ok is True
    header = received.headers["X-Signature-256"]
    assert header == expected_signature(SECRET, received.body)
    assert verify_signature(SECRET, received.body, header)
    assert not verify_signature(SECRET, received.body + b" ", header)  # tampered body


def test_webhook_wrong_secret_fails_verification() -> None:
    """A receiver holding a different secret refuses the signature."""
    with WebhookServer(secret="another-secret") as other:
        with WebhookHandler.from_settings(webhook_settings(other.url)) as handler:
            call_handler(handler, make_request())
        [received] = other.requests
    assert received.signature_ok is False
    assert not verify_signature(
        "another-secret", received.body, received.headers["X-Signature-256"]
    )


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(body=b"<html>oops</html>", content_type="text/html"), "webhook reply is not JSON"),
        (Reply(body=b"\xff\xfe"), "webhook reply is not JSON"),
        (Reply(body=b'["done"]'), "webhook reply is not a JSON object"),
        (Reply(body={"status": "done"}), "webhook reply has no 'outcome'"),
        (Reply(body={"outcome": "liked"}), "webhook reply outcome 'liked' is unknown"),
        (Reply(body={"outcome": 1}), "webhook reply outcome 1 is unknown"),
        (Reply(status=500, body={"outcome": "done"}), "webhook HTTP 500"),
        (Reply(status=404, body=b"not found"), "webhook HTTP 404"),
        (Reply(status=307, body=b""), "webhook HTTP 307"),
    ],
)
def test_webhook_bad_replies_are_failed(
    server: WebhookServer, webhook: WebhookHandler, reply: Reply, reason: str
) -> None:
    """Bad JSON, unknown outcomes and HTTP errors are failed, sent once, with the reason."""
    server.script(reply)
    result = call_handler(webhook, make_request())
    assert result.outcome is Status.FAILED
    assert result.reason.startswith(reason)
    assert len(server.requests) == 1  # no retry, no redirect followed


def test_webhook_timeout(server: WebhookServer, webhook: WebhookHandler) -> None:
    """A reply slower than the read timeout is failed quickly, and not retried."""
    server.script(Reply(delay_s=2.0))
    started = time.monotonic()
    result = call_handler(webhook, make_request())
    assert result == HandlerResult.failed("webhook timeout after 0.2s")
    assert time.monotonic() - started < 1.5
    assert len(server.requests) == 1


def test_webhook_connection_refused() -> None:
    """A closed port is failed with the connection error, not raised."""
    url = f"http://127.0.0.1:{free_port()}/hook"
    with WebhookHandler.from_settings(webhook_settings(url)) as handler:
        result = call_handler(handler, make_request())
    assert result.outcome is Status.FAILED
    assert result.reason.startswith("webhook connection failed")


def test_webhook_secret_never_logged_or_stored(
    server: WebhookServer, webhook: WebhookHandler, caplog: pytest.LogCaptureFixture
) -> None:
    """The secret appears in no log line, reason, repr or request, on any path."""
    caplog.set_level(logging.DEBUG)
    server.script(
        Reply(body={"outcome": "done", "reason": f"echo {SECRET}"}),
        Reply(body={"outcome": f"x{SECRET}"}),
        Reply(status=500),
        Reply(body=b"nope"),
        Reply(delay_s=2.0),
    )
    reasons = [call_handler(webhook, make_request()).reason for _ in range(5)]
    assert all(SECRET not in reason for reason in reasons)
    assert "echo ***" in reasons[0]
    assert SECRET not in caplog.text
    assert SECRET not in repr(webhook)
    assert SECRET not in repr(make_settings(WEBHOOK_SECRET=SECRET))
    assert all(SECRET.encode() not in r.body for r in server.requests)
    assert all(SECRET not in json.dumps(r.headers) for r in server.requests)


def test_webhook_repr_hides_url_path_and_query() -> None:
    """The handler's repr and logs show only scheme, host and port of the URL."""
    handler = WebhookHandler("https://n8n.example.test/webhook/abc-123?key=zzz", SecretStr(SECRET))
    assert repr(handler) == (
        "WebhookHandler(url='https://n8n.example.test', secret=SecretStr('**********'))"
    )
    handler.close()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"WEBHOOK_SECRET": ""}, "needs WEBHOOK_SECRET"),
        ({"WEBHOOK_URL": "ftp://example.test/hook"}, "must be an http(s) URL"),
    ],
)
def test_webhook_config_errors(values: dict[str, Any], message: str) -> None:
    """A webhook without a secret or with a non-HTTP URL is refused at build time."""
    with pytest.raises(HandlerConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_handler(webhook_settings("http://127.0.0.1:9/hook", **values))


def test_webhook_sent_at_comes_from_the_clock() -> None:
    """sent_at comes from the injected clock and is whole seconds of UTC."""
    with WebhookServer(secret=SECRET) as srv:
        clock = FrozenClock(SENT_AT + timedelta(hours=1))
        with WebhookHandler.from_settings(webhook_settings(srv.url), clock=clock) as handler:
            call_handler(handler, make_request())
        assert srv.requests[0].json()["sent_at"] == "2026-02-09T11:15:42+00:00"
