"""Export and import of one account's state as the seed's ``schedule_state.json`` (seed 6).

Redis is the source of truth; the file is for inspection and backup. Besides the seed's
``counters``, ``plan`` and ``saved_at`` it carries what an exact round trip needs:

``schema_version``, ``account``, ``timezone``, ``week``
    what the file is; ``counters`` are derived from ``guard`` at ``saved_at`` in
    ``timezone`` (``hourly_reset_time``: the oldest action in the rolling hour) and must
    agree with it on import.
``plan_settings``
    the week's settings snapshot, credentials redacted (:func:`redact_settings`).
``ledger``, ``profiles``, ``breaker``, ``outbox``
    the coverage ledger, the profile snapshot, the circuit breaker, pending write-backs.
``guard``
    the guard's keys value for value: hour zset entries, day and week counters, trim mark
    and reservations; instants in epoch microseconds as in Redis, expiries as absolute
    epoch milliseconds of the Redis clock. ``last`` (the last action) is the newest hour
    entry, derived on export and ignored on import.

Not exported: other weeks, the slot -> job map and RQ's jobs (the CLI schedules fresh jobs
after an import), the demo clock. Export, import into an empty Redis, export again: the
same document but for ``saved_at``.

Import validates the whole file (:func:`load_state_file`) before it writes anything, then
writes in one MULTI/EXEC (:mod:`.redis_write`). An account that already holds any of this
state is refused unless ``replace=True``, which replaces the account's ledger, profiles,
guard, breaker, outbox and that week (other weeks stay); a week with a slot in flight
(claimed) is never replaced.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import redis
from pydantic import ValidationError

from planner import keys
from planner.state_file.document import (
    STATE_SCHEMA_VERSION,
    BreakerState,
    GuardState,
    OutboxItem,
    StateDocument,
    StateFile,
    StateFileError,
    derive_counters,
    redact_settings,
)
from planner.state_file.parse import load_state_file, parse_state
from planner.state_file.redis_read import read_account
from planner.state_file.redis_write import ImportConflict, account_commands, commit
from planner.store import CorruptState
from planner.weekly_plan import iso_week_label

FILE_MODE = 0o600


def export_state(
    client: redis.Redis, account: str, tz_name: str, *, week_start: date, now: datetime
) -> dict[str, Any]:
    """The document of ``account`` with the week of ``week_start``, read as one snapshot.

    ``now`` becomes ``saved_at`` (pass the server clock: the guard's instants use it).
    Raises the store's CorruptState for unreadable state.
    """
    snap = read_account(client, account, week_start)
    try:
        outbox = [OutboxItem.model_validate_json(item) for item in snap.outbox]
    except ValidationError as exc:
        reason = f"unreadable item: {exc.errors()[0]['msg']}"
        raise CorruptState(keys.outbox(account), reason) from exc
    guard = GuardState.model_validate(snap.guard)
    doc = StateDocument(
        schema_version=STATE_SCHEMA_VERSION,
        account=account,
        timezone=tz_name,
        saved_at=now,
        counters=derive_counters(guard, now, ZoneInfo(tz_name)),
        week=iso_week_label(week_start),
        plan=snap.plan.to_json() if snap.plan else None,
        plan_settings=redact_settings(snap.plan_settings) if snap.plan else None,
        ledger=snap.ledger,
        profiles={p.key: p for p in snap.profiles},
        guard=guard,
        breaker=BreakerState.model_validate(snap.breaker),
        outbox=outbox,
    )
    return doc.model_dump(mode="json")


def write_state_file(path: Path, doc: Mapping[str, Any]) -> None:
    """Write ``doc`` atomically (temp file in the same directory, fsync, rename), mode 0600.

    On any error the previous file, if any, is untouched and no temp file is left behind.
    """
    data = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    directory = path.absolute().parent
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)  # mkstemp's default too; stated, whatever the umask
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


@dataclass(frozen=True)
class ImportSummary:
    """What an import wrote."""

    account: str
    week: str | None
    slots: int
    ledger: int
    profiles: int
    reservations: int
    expired_skipped: int


def import_state(client: redis.Redis, state: StateFile, *, replace: bool = False) -> ImportSummary:
    """Write a validated document in one transaction; StateFileError on a conflict."""
    doc, plan = state.doc, state.plan
    seconds, micros = client.time()
    commands, skipped = account_commands(
        doc.account,
        plan=plan,
        plan_settings=doc.plan_settings or {},
        ledger=doc.ledger,
        profiles=list(doc.profiles.values()),
        guard=doc.guard.model_dump(),
        breaker=doc.breaker.model_dump(exclude_none=True),
        outbox=[json.dumps(item.model_dump(mode="json")) for item in doc.outbox],
        now_ms=int(seconds) * 1000 + int(micros) // 1000,
    )
    try:
        commit(client, doc.account, plan.week_start if plan else None, commands, replace=replace)
    except ImportConflict as exc:
        raise StateFileError(state.source, exc.where, exc.reason) from exc
    return ImportSummary(
        account=doc.account,
        week=plan.label if plan else None,
        slots=sum(1 for _ in plan.slots()) if plan else 0,
        ledger=len(doc.ledger),
        profiles=len(doc.profiles),
        reservations=len(doc.guard.reservations),
        expired_skipped=skipped,
    )


__all__ = [
    "STATE_SCHEMA_VERSION",
    "ImportSummary",
    "StateDocument",
    "StateFile",
    "StateFileError",
    "export_state",
    "import_state",
    "load_state_file",
    "parse_state",
    "redact_settings",
    "write_state_file",
]
