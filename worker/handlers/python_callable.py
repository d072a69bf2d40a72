"""A user's Python callable as the handler: ``HANDLER="python:package.module:callable"``.

The callable is how an existing engagement engine plugs in. It is called once per
executed slot, with keyword arguments only::

    def engage(*, profile_url: str, name: str, slot: EngagementRequest) -> Reply: ...
    async def engage(*, profile_url: str, name: str, slot: EngagementRequest) -> Reply: ...

(accept ``**kwargs`` too, so arguments added later do not break it). ``slot`` carries the
account, slot id, scheduled time, attempt, forced and dry_run flags. The reply is one of

* an outcome string: "done" (or "success"), "failed", "already_reacted", "no_posts";
* an object or dict with ``success: bool`` and ``error_code: str | None``, like the
  seed's engagement result (success -> done; error_code already_reacted / no_posts map
  through; anything else -> failed, with the error code and message as the reason);
* a dict ``{"outcome": ..., "reason": ...}`` or a ``HandlerResult``.

Async callables run with ``asyncio.run`` (a fresh event loop per call; the worker is
synchronous). The callable must not retry an engagement itself once it may have acted.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from .base import EngagementRequest, HandlerConfigError, HandlerError, HandlerResult
from .outcomes import normalise_reply

PREFIX = "python:"


class PythonCallableHandler:
    """Calls a user callable with ``profile_url``, ``name`` and ``slot``; maps its reply."""

    def __init__(self, func: Callable[..., object], *, path: str = "") -> None:
        if not callable(func):
            raise HandlerConfigError(f"handler {path or func!r} is not callable")
        _check_signature(func, path or getattr(func, "__qualname__", repr(func)))
        self._func = func
        self.path = path or f"{func.__module__}:{getattr(func, '__qualname__', func)}"

    @classmethod
    def from_path(cls, spec: str) -> PythonCallableHandler:
        """Import ``python:package.module:callable`` (or without the prefix) and wrap it."""
        return cls(import_callable(spec), path=spec.removeprefix(PREFIX))

    def __call__(self, request: EngagementRequest) -> HandlerResult:
        value = self._func(profile_url=request.linkedin_url, name=request.name, slot=request)
        if inspect.isawaitable(value):
            value = _run_awaitable(value)
        return normalise_reply(value)

    def __repr__(self) -> str:
        return f"PythonCallableHandler({self.path!r})"


def import_callable(spec: str) -> Callable[..., object]:
    """The callable named by ``[python:]package.module:attr[.attr...]``.

    Raises HandlerConfigError naming the path, whatever went wrong (bad syntax, missing
    module, a module that fails on import, a missing attribute, not callable).
    """
    path = spec.removeprefix(PREFIX)
    setting = f"HANDLER={PREFIX}{path}"
    module_name, sep, attr_path = path.rpartition(":")
    if not sep or not _dotted_ok(module_name) or not _dotted_ok(attr_path):
        raise HandlerConfigError(
            f"{setting}: expected 'python:package.module:callable' "
            f"(dotted module, a colon, then the callable's name)"
        )
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise HandlerConfigError(f"{setting}: cannot import module {module_name!r}: {exc}") from exc
    except Exception as exc:  # the user's module failed while importing
        raise HandlerConfigError(
            f"{setting}: importing module {module_name!r} raised {type(exc).__name__}: {exc}"
        ) from exc
    for depth, part in enumerate(attr_path.split(".")):
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            owner = ".".join([module_name, *attr_path.split(".")[:depth]])
            raise HandlerConfigError(f"{setting}: {owner!r} has no attribute {part!r}") from exc
    if not callable(target):
        raise HandlerConfigError(
            f"{setting}: {attr_path!r} is a {type(target).__name__}, not callable"
        )
    func: Callable[..., object] = target
    return func


def _dotted_ok(name: str) -> bool:
    return bool(name) and all(part.isidentifier() for part in name.split("."))


def _check_signature(func: Callable[..., object], label: str) -> None:
    """Refuse at build time a callable that could not take the keyword arguments."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # some builtins have no signature: find out at call time
        return
    probe = EngagementRequest("a", "s", "u", "n", datetime(2000, 1, 1, tzinfo=UTC), 1, False, True)
    try:
        signature.bind(profile_url=probe.linkedin_url, name=probe.name, slot=probe)
    except TypeError as exc:
        raise HandlerConfigError(
            f"handler {label} must accept keyword arguments profile_url, name and slot "
            f"(signature is {signature}): {exc}"
        ) from exc


def _run_awaitable(value: Awaitable[object]) -> object:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass  # no loop running in this thread: the normal case in an RQ worker
    else:
        if inspect.iscoroutine(value):
            value.close()  # never awaited otherwise; closing avoids a RuntimeWarning
        raise HandlerError(
            "an async handler was called from inside a running event loop; call the "
            "scheduler's handler from synchronous code (the RQ worker is)"
        )

    async def _await() -> object:
        return await value

    return asyncio.run(_await())
