"""Talking to the Sheets API through gspread: credentials, retries, the write quota.

gspread builds every URL from ``https://sheets.googleapis.com``; passing ``api_base_url``
sends the same requests elsewhere (tests point it at a local fake server), so gspread's
own code runs unchanged over real HTTP.

Retries: 429, 5xx and network errors are retried with truncated exponential backoff and
jitter (``Retry-After`` is honoured when longer), at most ``RetryPolicy.max_attempts``
tries; then ``SheetsUnavailableError``. 401 / 403 / a refused token are not retried:
``SheetsAuthError`` says what to check. Sleep, randomness and the monotonic clock are
injected so tests never wait.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, TypeVar

import gspread
import requests
from google.auth import exceptions as google_auth_errors
from google.auth.credentials import Credentials
from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import service_account
from requests.adapters import HTTPAdapter
from requests.models import PreparedRequest

from planner.sources.errors import (
    SheetsAuthError,
    SheetsError,
    SheetsUnavailableError,
    SourceError,
)

GOOGLE_SHEETS_BASE_URL = "https://sheets.googleapis.com"
SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)  # no Drive: open by key only
GOOGLE_WRITES_PER_MINUTE = 60  # Sheets API write requests per minute per user per project
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay_s: float = 1.0
    max_delay_s: float = 32.0

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        """Wait before try ``attempt + 1``: half the capped exponential, plus jitter."""
        cap = min(self.max_delay_s, self.base_delay_s * 2.0 ** (attempt - 1))
        return cap / 2 + rng.uniform(0, cap / 2)


class _RebaseAdapter(HTTPAdapter):
    """Sends requests for the Google Sheets host to another base URL instead."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self._base_url = base_url.rstrip("/")

    def send(  # passes every argument through unchanged
        self, request: PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if request.url and request.url.startswith(GOOGLE_SHEETS_BASE_URL):
            request.url = self._base_url + request.url[len(GOOGLE_SHEETS_BASE_URL) :]
        return super().send(request, *args, **kwargs)


def load_credentials(path: Path) -> Credentials:
    """Service-account credentials from a key file; the key's content never leaves here."""
    if not path.is_file():
        raise SheetsAuthError(f"service-account key file {path} not found")
    try:
        creds: Credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
            str(path), scopes=list(SCOPES)
        )
    except (ValueError, KeyError, OSError) as exc:
        # ``from None``: the parser's own message could quote part of the key file.
        raise SheetsAuthError(
            f"service-account key file {path} is not a usable key ({type(exc).__name__}); "
            "download a new JSON key for the service account"
        ) from None
    return creds


def build_client(
    credentials_file: Path | None = None,
    *,
    credentials: Credentials | None = None,
    api_base_url: str | None = None,
    timeout_s: tuple[float, float] = (10.0, 60.0),
) -> gspread.Client:
    """A gspread client on an authorised session (optionally against ``api_base_url``)."""
    if credentials is None:
        if credentials_file is None:
            raise SheetsAuthError(
                "Google Sheets needs a service-account key: set GOOGLE_SERVICE_ACCOUNT_FILE"
            )
        credentials = load_credentials(credentials_file)
    session = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
    if api_base_url:
        session.mount(GOOGLE_SHEETS_BASE_URL, _RebaseAdapter(api_base_url))
    client = gspread.Client(auth=credentials, session=session)
    client.set_timeout(timeout_s)  # gspread's default is to wait forever
    return client


class WriteQuota:
    """At most ``per_minute`` write requests in any rolling 60 seconds (sleeps if needed)."""

    def __init__(
        self, per_minute: int, *, sleep: Callable[[float], None], monotonic: Callable[[], float]
    ) -> None:
        if per_minute < 1:
            raise ValueError(f"writes per minute must be at least 1, got {per_minute}")
        self.per_minute = per_minute
        self._sleep = sleep
        self._monotonic = monotonic
        self._stamps: deque[float] = deque()

    def acquire(self) -> None:
        while True:
            now = self._monotonic()
            while self._stamps and now - self._stamps[0] >= 60.0:
                self._stamps.popleft()
            if len(self._stamps) < self.per_minute:
                self._stamps.append(now)
                return
            self._sleep(60.0 - (now - self._stamps[0]))


class SheetsApi:
    """Runs gspread calls with retries, the write quota and errors translated."""

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        writes_per_minute: int = GOOGLE_WRITES_PER_MINUTE,
        account_hint: str = "",
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.quota = WriteQuota(writes_per_minute, sleep=sleep, monotonic=monotonic)
        self.account_hint = account_hint

    def call(self, fn: Callable[[], T], *, what: str, write: bool = False) -> T:
        """``fn()``, retried on 429 / 5xx / network errors; SourceError subclasses on failure."""
        for attempt in range(1, self.retry.max_attempts + 1):
            if write:
                self.quota.acquire()
            try:
                return fn()
            except gspread.exceptions.APIError as exc:
                status = exc.response.status_code
                if not _retryable(status):
                    raise self._refusal(what, status, _api_message(exc)) from exc
                failure: Exception = exc
                retry_after = _retry_after_s(exc.response)
            except PermissionError as exc:  # gspread's open_by_key turns a 403 into this
                raise self._refusal(what, HTTPStatus.FORBIDDEN, "permission denied") from exc
            except gspread.exceptions.SpreadsheetNotFound as exc:
                raise self._refusal(what, HTTPStatus.NOT_FOUND, "not found") from exc
            except google_auth_errors.RefreshError as exc:
                if not exc.retryable:
                    raise SheetsAuthError(
                        f"{what}: Google refused the service-account token "
                        f"({_first_line(exc)}); check that the key is current and the "
                        "account is not disabled"
                    ) from exc
                status, failure, retry_after = None, exc, 0.0  # token endpoint briefly down
            except (requests.RequestException, google_auth_errors.TransportError) as exc:
                status, failure, retry_after = None, exc, 0.0
            self._wait_or_give_up(attempt, what, status, failure, retry_after)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _wait_or_give_up(
        self, attempt: int, what: str, status: int | None, failure: Exception, retry_after: float
    ) -> None:
        if attempt == self.retry.max_attempts:
            code = f"HTTP {status}" if status else type(failure).__name__
            raise SheetsUnavailableError(
                f"{what}: Google Sheets still failing ({code}) after {attempt} attempts; "
                "nothing was planned or written from it, try again later",
                status=status,
                attempts=attempt,
            ) from failure
        self._sleep(max(self.retry.delay_s(attempt, self._rng), retry_after))

    def _refusal(self, what: str, status: int, message: str) -> SourceError:
        if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
            share = f" with {self.account_hint}" if self.account_hint else ""
            return SheetsAuthError(
                f"{what}: access refused (HTTP {status}: {message}); share the spreadsheet"
                f"{share} and check that the Sheets API is enabled for its project",
                status=status,
            )
        if status == HTTPStatus.NOT_FOUND:
            return SheetsError(f"{what}: not found (HTTP 404); check the key or URL", status=404)
        return SheetsError(f"{what}: HTTP {status}: {message}", status=status)


def _retryable(status: int) -> bool:
    return status == HTTPStatus.TOO_MANY_REQUESTS or 500 <= status <= 599


def _api_message(exc: gspread.exceptions.APIError) -> str:
    message = exc.error.get("message") if isinstance(exc.error, dict) else None
    return _first_line(message or exc.response.reason or "error")


def _retry_after_s(response: requests.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "0")))
    except ValueError:
        return 0.0  # an HTTP-date: rare for Google; the backoff is long enough


def _first_line(value: object) -> str:
    return str(value).strip().splitlines()[0][:200] if str(value).strip() else "no detail"
