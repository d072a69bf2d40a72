"""A small local HTTP server for webhook tests: records requests, plays scripted replies.

It verifies signatures itself, with the standard library only (not with the code under
test), so a test that passes proves a third-party receiver could verify them too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted reply: status, body (a dict is sent as JSON), and a delay before it."""

    status: int = 200
    body: bytes | str | dict[str, Any] = field(default_factory=lambda: {"outcome": "done"})
    delay_s: float = 0.0
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        if isinstance(self.body, dict):
            return json.dumps(self.body).encode()
        if isinstance(self.body, str):
            return self.body.encode()
        return self.body


@dataclass(frozen=True)
class RecordedRequest:
    """What the server received; ``signature_ok`` is None when it holds no secret."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool | None

    def json(self) -> Any:
        return json.loads(self.body)


def expected_signature(secret: str, body: bytes) -> str:
    """What a receiver computes: ``sha256=`` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookServer:
    """``http.server`` in a thread on 127.0.0.1, on a free port; use as a context manager."""

    def __init__(self, secret: str | None = None, default: Reply | None = None) -> None:
        self.secret = secret
        self.default = default or Reply()
        self.requests: list[RecordedRequest] = []
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        # A short poll interval: shutdown() waits up to one interval, once per test.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def script(self, *replies: Reply) -> None:
        """Queue replies for the next requests (then the default reply again)."""
        with self._lock:
            self._script.extend(replies)

    def __enter__(self) -> WebhookServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()  # cuts short any scripted delay, so shutdown is immediate
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # ---- internals ----------------------------------------------------------------------

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._script.popleft() if self._script else self.default

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                signature_ok = None
                if server.secret is not None:
                    signature_ok = hmac.compare_digest(
                        expected_signature(server.secret, body),
                        self.headers.get("X-Signature-256", ""),
                    )
                server._record(
                    RecordedRequest(
                        "POST", self.path, dict(self.headers.items()), body, signature_ok
                    )
                )
                reply = server._next_reply()
                if reply.delay_s and server._stopping.wait(reply.delay_s):
                    return
                payload = reply.encoded()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test): nothing to answer

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        return Handler
