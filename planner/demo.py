"""``python -m planner demo``: a whole week through the real pipeline in about a minute.

It plans next week for the example profiles on the embedded Redis, installs a compressed
clock (``planner.server_clock``), starts a real ``rqscheduler`` process and ``rq worker``
processes, and lets them run every slot with the dry-run handler and a realistic outcome
mix. The summary is measured from what actually ran: handler calls counted per slot,
action instants read back from the slots.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import redis

from config.settings import Settings
from planner import chain, keys
from planner.profiles import Profile
from planner.service import Live, generate
from planner.timing import day_window
from planner.weekly_plan import HANDLER_OUTCOMES, TERMINAL, Status, WeeklyPlan, week_monday

ACCOUNT = "demo"
OUTCOME_MIX = {"done": 0.82, "failed": 0.08, "already_reacted": 0.05, "no_posts": 0.05}
# Polling and process start-up take tenths of a second; compressed ~10,000 times that is
# most of an hour, so the demo tolerates more lateness than a real deployment would.
DEMO_LATE_TOLERANCE_MINUTES = 120.0
SCHEDULER_INTERVAL_S = 0.05


@dataclass
class DemoResult:
    plan: WeeklyPlan
    outcomes: dict[str, int]
    violations: dict[str, int]
    seconds: float
    calls: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "slots": sum(1 for _ in self.plan.slots()),
            "outcomes": self.outcomes,
            "violations": self.violations,
            "seconds": round(self.seconds, 2),
        }


def demo_settings(base: Settings, redis_url: str) -> Settings:
    return base.model_copy(
        update={
            "REDIS_URL": redis_url,
            "HANDLER": "python:worker.demo_handler:handle",
            "DRY_RUN_MIX": OUTCOME_MIX,
            "LATE_TOLERANCE_MINUTES": DEMO_LATE_TOLERANCE_MINUTES,
            "SCHEDULER_BACKEND": "rq-scheduler",
            # Demo outcomes are made up: they must never reach a real profile source.
            "WRITE_BACK": False,
        }
    )


def worker_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "REDIS_URL": settings.REDIS_URL,
            "HANDLER": settings.HANDLER,
            "DRY_RUN_MIX": json.dumps(settings.DRY_RUN_MIX),
            "LATE_TOLERANCE_MINUTES": str(settings.LATE_TOLERANCE_MINUTES),
            "SCHEDULER_BACKEND": settings.SCHEDULER_BACKEND,
            "TIMEZONE": settings.TIMEZONE,
            "WRITE_BACK": "false",
        }
    )
    return env


def reset_account(client: redis.Redis, live: Live) -> None:
    """Forget a previous demo: its keys and any of its jobs still waiting."""
    for key in client.scan_iter(match=keys.account_pattern(ACCOUNT), count=500):
        client.delete(key)
    stale = [
        job_id.decode() if isinstance(job_id, bytes) else str(job_id)
        for job_id in client.zrange("rq:scheduler:scheduled_jobs", 0, -1)
    ]
    live.queue.cancel([j for j in stale if j.startswith((f"{ACCOUNT}-", f"chain-{ACCOUNT}-"))])
    live.clock.uninstall()


def start_processes(settings: Settings, workers: int) -> list[subprocess.Popen[bytes]]:
    bin_dir = Path(sys.executable).parent
    env = worker_env(settings)
    procs = [
        subprocess.Popen(
            [
                str(bin_dir / "rqscheduler"),
                "--url",
                settings.REDIS_URL,
                "-i",
                str(SCHEDULER_INTERVAL_S),
                "--quiet",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    for _ in range(workers):
        procs.append(
            subprocess.Popen(
                [
                    str(bin_dir / "rq"),
                    "worker",
                    settings.QUEUE_NAME,
                    "--url",
                    settings.REDIS_URL,
                    # no fork per job: compressed time cannot wait for a fresh import each time
                    "--worker-class",
                    "rq.worker.SimpleWorker",
                    "--quiet",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    return procs


def warm_up(client: redis.Redis, settings: Settings, workers: int, timeout_s: float = 60) -> None:
    """Wait until every worker has imported everything a slot needs."""
    from rq import Queue  # noqa: PLC0415

    queue = Queue(settings.QUEUE_NAME, connection=client)
    jobs = [queue.enqueue("worker.jobs.warm_up", 0.5) for _ in range(workers)]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        states = [job.get_status(refresh=True) for job in jobs]
        if all(state == "finished" for state in states):
            return
        if any(state == "failed" for state in states):
            raise RuntimeError(
                "a demo worker could not start its runtime; run 'rq worker' to see why"
            )
        time.sleep(0.1)
    raise RuntimeError(f"demo workers did not start within {timeout_s:.0f}s")


def stop_processes(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_demo(
    client: redis.Redis,
    base: Settings,
    redis_url: str,
    profiles: list[Profile],
    *,
    seconds: float = 60.0,
    workers: int = 2,
    seed: int | None = None,
    progress: Callable[[float, int, int], None] | None = None,
) -> DemoResult:
    settings = demo_settings(base, redis_url)
    live = Live.connect(client, settings, ACCOUNT)
    reset_account(client, live)
    real_start = time.monotonic()
    today = live.clock.real_now().astimezone(settings.tz).date()
    monday = week_monday(today) + timedelta(days=7)
    start = datetime.combine(monday, datetime.min.time(), tzinfo=settings.tz) + timedelta(hours=5)
    end = day_window(monday + timedelta(days=6), settings)[1] + timedelta(minutes=30)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs = start_processes(settings, workers)
        warm_up(client, settings, workers)
        # Compressed time starts only now: process start-up would eat hours of Monday.
        live.clock.install(start, (end - start).total_seconds() / seconds)
        outcome = generate(live, profiles, now=start, rng=np.random.default_rng(seed))
        chain.install(live, start)
        deadline = real_start + 3 * seconds + 30
        while time.monotonic() < deadline:
            now = live.clock()
            plan = live.store.load_week(ACCOUNT, monday) or outcome.plan
            done = sum(s.status in TERMINAL for s in plan.slots())
            total = sum(1 for _ in plan.slots())
            if progress:
                progress(min(1.0, (now - start) / (end - start)), done, total)
            if now >= end and done == total:
                break
            time.sleep(0.2)
    finally:
        stop_processes(procs)
        live.clock.uninstall()
        # Demo outcomes are made up: they must never be written back to a real source.
        client.delete(keys.outbox(ACCOUNT))
    plan = live.store.load_week(ACCOUNT, monday) or outcome.plan
    calls = {
        (k.decode() if isinstance(k, bytes) else str(k)): int(v)
        for k, v in client.hgetall(keys.demo_calls(ACCOUNT)).items()
    }
    return DemoResult(
        plan=plan,
        outcomes=dict(Counter(s.status.value for s in plan.slots())),
        violations=measure_violations(plan, settings, calls),
        seconds=time.monotonic() - real_start,
        calls=calls,
    )


def measure_violations(
    plan: WeeklyPlan, settings: Settings, calls: dict[str, int]
) -> dict[str, int]:
    """Breaches of I1, I2, I3 and I4 in what ran (an action: a handler call that succeeded)."""
    ran = [s for s in plan.slots() if s.status in HANDLER_OUTCOMES and s.claimed_at]
    actions = sorted(s.claimed_at for s in ran if s.status is Status.DONE and s.claimed_at)
    out = {"cap": 0, "min_gap": 0, "outside_hours": 0, "double_execution": 0}
    gap, hour, h = (
        timedelta(minutes=settings.TIMING_MIN_GAP_MINUTES),
        timedelta(hours=1),
        settings.HOURLY_LIMIT,
    )
    for i, t in enumerate(actions):
        out["min_gap"] += int(i > 0 and t - actions[i - 1] < gap)
        out["cap"] += int(i >= h and t - actions[i - h] < hour)
    per_day = Counter(t.astimezone(settings.tz).date() for t in actions)
    out["cap"] += sum(n > settings.DAILY_LIMIT for n in per_day.values())
    out["cap"] += int(len(actions) > settings.WEEKLY_LIMIT)
    for local in (s.claimed_at.astimezone(settings.tz).time() for s in ran if s.claimed_at):
        out["outside_hours"] += int(not settings.OPERATING_START <= local < settings.OPERATING_END)
    out["double_execution"] = sum(n > 1 for n in calls.values())
    return out
