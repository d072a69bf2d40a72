"""Reading a state file: every check happens here, before anything is written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from planner.profiles import profile_key
from planner.state_file.document import (
    STATE_SCHEMA_VERSION,
    Counters,
    StateDocument,
    StateFile,
    StateFileError,
    derive_counters,
    json_path,
)
from planner.weekly_plan import PlanError, WeeklyPlan


def load_state_file(path: Path, *, account: str | None = None) -> StateFile:
    """Read and validate ``path``; StateFileError names the file and the JSON path."""
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise StateFileError(source, "$", f"cannot read: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StateFileError(source, "$", f"not UTF-8 text (byte {exc.start})") from exc
    return parse_state(text, source=source, account=account)


def parse_state(text: str, *, source: str, account: str | None = None) -> StateFile:
    """Validate a whole document; ``account``, when given, must be the file's."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise StateFileError(
            source, "$", f"not valid JSON ({exc.msg} at {where}; truncated?)"
        ) from exc
    if not isinstance(data, dict):
        raise StateFileError(source, "$", f"must be a JSON object, not {type(data).__name__}")
    _check_version(source, data)
    try:
        doc = StateDocument.model_validate_json(text, strict=True)
    except ValidationError as exc:
        err = exc.errors()[0]
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise StateFileError(source, json_path(err["loc"]), err["msg"] + more) from exc
    if account is not None and doc.account != account:
        raise StateFileError(
            source, "$.account", f"the file holds account {doc.account!r}, not {account!r}"
        )
    try:
        tz = ZoneInfo(doc.timezone)
    except (ValueError, ZoneInfoNotFoundError) as exc:
        raise StateFileError(source, "$.timezone", f"unknown time zone {doc.timezone!r}") from exc
    plan = _plan(source, doc)
    _check_keys(source, doc)
    _check_counters(source, doc, tz)
    return StateFile(source, doc, plan)


def _check_version(source: str, data: dict[str, Any]) -> None:
    where = "$.schema_version"
    if "schema_version" not in data:
        raise StateFileError(source, where, "missing: not an export of this scheduler")
    version = data["schema_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise StateFileError(source, where, f"must be a positive integer, not {version!r}")
    if version > STATE_SCHEMA_VERSION:
        raise StateFileError(
            source,
            where,
            f"{version} was written by a newer scheduler (this one reads "
            f"{STATE_SCHEMA_VERSION}); upgrade before importing",
        )


def _plan(source: str, doc: StateDocument) -> WeeklyPlan | None:
    if doc.plan is None:
        if doc.plan_settings is not None:
            raise StateFileError(source, "$.plan_settings", "given without a plan")
        return None
    try:
        plan = WeeklyPlan.from_json(doc.plan)
    except PlanError as exc:
        cause = exc.__cause__
        if isinstance(cause, ValidationError):
            err = cause.errors()[0]
            raise StateFileError(source, json_path(("plan", *err["loc"])), err["msg"]) from exc
        raise StateFileError(source, "$.plan", str(exc)) from exc
    if plan.account != doc.account:
        raise StateFileError(
            source, "$.plan.account", f"{plan.account!r} is not the file's {doc.account!r}"
        )
    if doc.week is not None and plan.label != doc.week:
        raise StateFileError(source, "$.week", f"{doc.week}, but the plan is of {plan.label}")
    return plan


def _check_keys(source: str, doc: StateDocument) -> None:
    for key in doc.ledger:
        if profile_key(key) != key:
            raise StateFileError(source, json_path(("ledger", key)), "not a normalised key")
    for key, profile in doc.profiles.items():
        if profile.key != key:
            where = json_path(("profiles", key))
            raise StateFileError(source, where, f"holds the profile {profile.key}")
    hour = {e.id: e.at_us for e in (doc.guard.hour.entries if doc.guard.hour else [])}
    for rid, res in doc.guard.reservations.items():
        if rid in hour and hour[rid] != res.at_us:
            where = json_path(("guard", "reservations", rid, "at_us"))
            raise StateFileError(source, where, f"{res.at_us}, but its hour entry says {hour[rid]}")


def _check_counters(source: str, doc: StateDocument, tz: ZoneInfo) -> None:
    """The seed's counters must be what the guard state gives at saved_at (no hand edits)."""
    expected = derive_counters(doc.guard, doc.saved_at, tz)
    for name in Counters.model_fields:
        found, wanted = getattr(doc.counters, name), getattr(expected, name)
        if found != wanted:
            raise StateFileError(
                source,
                json_path(("counters", name)),
                f"{found} disagrees with the guard state, which gives {wanted} at saved_at",
            )
