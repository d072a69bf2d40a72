"""What a stored week costs in Redis, and how long 1,000 accounts take to plan and enqueue.

Both use ``planner.service.generate``: plan (the pure core), store the plan in one
transaction, snapshot the profiles, and schedule one delayed RQ job per slot (rq-scheduler,
the default backend), exactly as ``python -m planner generate-week`` does. Each account
plans next week (7 days, 80 slots) for 100 profiles.
"""

from __future__ import annotations

import multiprocessing as mp
import time
import zlib
from datetime import UTC, datetime, timedelta
from multiprocessing.queues import Queue

import numpy as np
import redis

from benchmarks.model import Entry
from config.settings import Settings
from planner import keys
from planner.ledger import LedgerEntry
from planner.profiles import Profile
from planner.service import Live, generate
from planner.weekly_plan import Status, week_monday

PROFILES = 100
TARGET_BYTES_PER_SLOT = 1024
ACCOUNTS = 1000
TARGET_ACCOUNTS_S = 60.0


def profiles_for(account: str, now: datetime, n: int = PROFILES) -> list[Profile]:
    rng = np.random.default_rng(zlib.crc32(account.encode()))
    return [
        Profile(
            linkedin_url=f"https://www.linkedin.com/in/{account}-member-{i:03d}",
            name=f"Member {i} of {account}",
            last_engaged_at=now - timedelta(days=float(rng.uniform(0, 13))),
        )
        for i in range(n)
    ]


def next_monday(now: datetime) -> datetime:
    monday = week_monday(now.date()) + timedelta(days=7)
    return datetime(monday.year, monday.month, monday.day, tzinfo=UTC)


def _usage(client: redis.Redis, names: list[str]) -> int:
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.memory_usage(name, samples=0)
    return sum(int(v or 0) for v in pipe.execute())


def memory(url: str) -> list[Entry]:
    client = redis.Redis.from_url(url)
    settings = Settings(_env_file=None)
    account = "benchmem"
    live = Live.connect(client, settings, account)
    now = live.clock()
    profiles = profiles_for(account, now)
    outcome = generate(
        live,
        profiles,
        now=now,
        rng=np.random.default_rng(3),
        week_start=next_monday(now).date(),
    )
    # The steady state: the ledger knows every profile.
    for p in profiles:
        at = now - timedelta(days=1)
        entry = LedgerEntry(last_done_at=at, last_attempt_at=at, last_outcome=Status.DONE)
        live.store.put_ledger_entry(account, p.key, entry)
    slots = [s.slot_id for s in outcome.plan.slots()]
    plan_keys = [
        keys.week_meta(account, outcome.plan.week_start),
        keys.weeks(account),
        keys.slot_jobs(account),
        *(keys.day_slots(account, d.date) for d in outcome.plan.days.values()),
        *(keys.slot(account, s) for s in slots),
    ]
    per_slot = _usage(client, plan_keys) / len(slots)
    per_profile = _usage(client, [keys.profiles(account), keys.ledger(account)]) / len(profiles)
    jobs = {_text(k): _text(v) for k, v in client.hgetall(keys.slot_jobs(account)).items()}
    job_keys = [f"rq:job:{jobs[s]}" for s in slots]
    per_job = _usage(client, job_keys) / len(slots)
    client.close()
    return [
        Entry(
            name="redis_bytes_per_slot",
            value=per_slot,
            unit="B",
            target=TARGET_BYTES_PER_SLOT,
            note=f"{len(slots)} slots: week meta, weeks index, day zsets, slot hashes, job map",
        ),
        Entry(
            name="redis_bytes_per_profile",
            value=per_profile,
            unit="B",
            note="informational: profile snapshot + ledger entry",
        ),
        Entry(
            name="redis_bytes_per_slot_rq_job",
            value=per_job,
            unit="B",
            note="informational: RQ's own job hash for each slot's delayed job",
        ),
    ]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _plan_accounts(url: str, names: list[str], out: Queue[float]) -> None:
    client = redis.Redis.from_url(url)
    settings = Settings(_env_file=None)
    now = datetime.now(UTC)
    inputs = [(name, profiles_for(name, now)) for name in names]
    monday = next_monday(now).date()
    started = time.perf_counter()
    for name, profiles in inputs:
        live = Live.connect(client, settings, name)
        generate(live, profiles, now=live.clock(), rng=np.random.default_rng(), week_start=monday)
    out.put(time.perf_counter() - started)
    client.close()


def accounts(url: str, count: int, workers: int) -> list[Entry]:
    """Wall time for ``count`` accounts over ``workers`` processes, scaled to 1,000."""
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    names = [f"acct{i:04d}" for i in range(count)]
    procs = [
        ctx.Process(target=_plan_accounts, args=(url, names[w::workers], out))
        for w in range(workers)
    ]
    for proc in procs:
        proc.start()
    seconds = max(out.get(timeout=3600) for _ in procs)
    for proc in procs:
        proc.join()
    scale = ACCOUNTS / count
    scaled = f"; {count} accounts timed, x{scale:g}" if count != ACCOUNTS else ""
    return [
        Entry(
            name="accounts_1000_generate_store_enqueue",
            value=seconds * scale,
            unit="s",
            target=TARGET_ACCOUNTS_S,
            note=f"{workers} processes, 100 profiles and 80 slots each{scaled}",
        )
    ]
