"""Where plans, slots and the coverage ledger live: an interface and two implementations.

``RedisPlanStore(client)`` is the source of truth; ``MemoryPlanStore()`` is its in-memory
twin. Both satisfy :class:`PlanStore` and raise the errors below (base :class:`StoreError`).
"""

from __future__ import annotations

from planner.store.base import (
    ALLOWED_TRANSITIONS,
    BeginResult,
    Begun,
    CorruptState,
    DayMeta,
    EndResult,
    PlanStore,
    RunClaim,
    RunOutcome,
    SchemaMismatch,
    SlotBinding,
    SlotNotFound,
    SlotRecord,
    SlotStateError,
    StoreError,
    StoreUnavailable,
    WeekExists,
    WeekMeta,
    WeekNotFound,
)
from planner.store.memory_store import MemoryPlanStore
from planner.store.redis_store import RedisPlanStore

__all__ = [
    "ALLOWED_TRANSITIONS",
    "BeginResult",
    "Begun",
    "CorruptState",
    "DayMeta",
    "EndResult",
    "MemoryPlanStore",
    "PlanStore",
    "RedisPlanStore",
    "RunClaim",
    "RunOutcome",
    "SchemaMismatch",
    "SlotBinding",
    "SlotNotFound",
    "SlotRecord",
    "SlotStateError",
    "StoreError",
    "StoreUnavailable",
    "WeekExists",
    "WeekMeta",
    "WeekNotFound",
]
