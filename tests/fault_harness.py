"""Fault-injection harness: a private Redis, real ``rqscheduler`` / ``rq worker`` processes,
compressed time, synthetic accounts, and measurements read back from what ran.

Processes
    :class:`FaultRedis` runs the suite's own ``redis-server`` (AOF on) in a tmp dir, so a
    crash and restart never touch the session server other tests use. :class:`Fleet` runs
    one ``rqscheduler`` and any number of ``rq worker`` processes (``SimpleWorker``: no fork
    per job), each in a session of its own so teardown kills whole process groups. Workers
    start through :func:`worker_main`, which imports and builds everything a slot needs
    before registering with RQ (so "registered" means "ready"), and can shift the host's
    wall clock (``time.time``, ``datetime.now``) to play a host whose clock is off.

Time
    Every process reads the scheduler's clock: Redis ``TIME`` through the time map of
    ``planner.server_clock`` (``eng:{<account>}:clock``, the same map for every account).
    :func:`install_clock` starts that map a little in the future, so planning and
    enqueueing happen before the virtual week begins.

Settings
    Worker processes get settings through the environment only (every settings variable of
    the parent removed first) and run in a tmp dir, so a developer's ``.env`` cannot leak in.
    Per-account overrides (time zone, window, handler, profile CSV) live in one accounts
    file (``ACCOUNTS_FILE``) written for the whole module.

Measuring
    :func:`measure_account` reads an account's week back from Redis and counts breaches of
    I1-I5 from the slots that ran, the demo handler's call tally (``eng:{acct}:calls``), the
    guard's reservations and the coverage ledger.

This module is imported by worker processes too (``slow_handle``, ``host_clock``,
``worker_main``): keep its top-level imports light.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis

    from config.settings import Settings
    from planner.service import Live
    from planner.weekly_plan import WeeklyPlan
    from worker.handlers import EngagementRequest, HandlerResult

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
QUEUE = "engagements"
DEMO_HANDLER = "python:worker.demo_handler:handle"
SLOW_HANDLER = "python:tests.fault_harness:slow_handle"
SLOW_HANDLER_S = 0.2
"""Real seconds the slow handler spends inside the action (a kill can land there)."""
SLEEPY_HANDLER = "python:tests.fault_harness:sleepy_handle"
SLEEPY_HANDLER_S = 3.0
"""Real seconds the sleepy handler takes: long enough to look at a run from outside."""
OUTCOME_MIX = {"done": 0.82, "failed": 0.08, "already_reacted": 0.05, "no_posts": 0.05}
LATE_TOLERANCE_MINUTES = 300.0
"""Virtual minutes. Both delayed-job backends fire on whole seconds (rounded up, so never
early): at ~8,000x one real second is over two virtual hours late."""
SCHEDULER_INTERVAL_S = 0.05
SKEW_ENV = "FAULT_CLOCK_SKEW_S"
SIMPLE_WORKER = "rq.worker.SimpleWorker"
FORKING_WORKER = "worker.rq_worker.EngagementWorker"  # what docker-compose runs

BASE_ENV: dict[str, str] = {
    "HANDLER": DEMO_HANDLER,
    "DRY_RUN_MIX": json.dumps(OUTCOME_MIX),
    "LATE_TOLERANCE_MINUTES": str(LATE_TOLERANCE_MINUTES),
    "SCHEDULER_BACKEND": "rq-scheduler",
    "WRITE_BACK": "false",
}


# ---- waiting ---------------------------------------------------------------------------


def wait_for(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
    on_timeout: Callable[[], str] | None = None,
) -> None:
    """:func:`tests.procs.wait_for`, polling every ``interval`` (0.1 s) by default.

    Imported when called: worker processes import this module and need none of it.
    """
    from tests.procs import wait_for as poll

    poll(predicate, timeout=timeout, what=what, interval=interval, on_timeout=on_timeout)


# ---- Redis -----------------------------------------------------------------------------


@dataclass
class FaultRedis:
    """The suite's own redis-server (AOF on), which a test may crash and restart."""

    data_dir: Path
    fsync_always: bool = False
    server: Any = None  # planner.redis_server.RedisProcess
    crashes: int = 0

    @property
    def url(self) -> str:
        return str(self.server.url)

    def start(self) -> None:
        from planner.redis_server import RedisProcess, free_port

        if self.server is None:
            self.server = RedisProcess(data_dir=self.data_dir, port=free_port())
        self.server.start()
        self._configure()

    def _configure(self) -> None:
        import redis

        client = redis.Redis.from_url(self.url)
        try:
            client.config_set("appendfsync", "always" if self.fsync_always else "everysec")
        finally:
            client.close()

    def set_fsync_always(self, on: bool) -> None:
        """``appendfsync always``: every acknowledged write is on disk before the reply."""
        self.fsync_always = on
        self._configure()

    def crash(self) -> None:
        """SIGKILL the server: no shutdown, no final AOF rewrite, like a host losing power."""
        proc = self.server.process
        assert proc is not None, "redis-server is not running"
        proc.kill()
        proc.wait(timeout=10)
        self.server.process = None
        self.crashes += 1

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


# ---- processes -------------------------------------------------------------------------


def settings_free_env() -> dict[str, str]:
    """The parent's environment without any variable that is also a setting."""
    from config.settings import Settings

    return {k: v for k, v in os.environ.items() if k not in Settings.model_fields}


@dataclass
class Proc:
    kind: str  # "scheduler" | "worker"
    popen: subprocess.Popen[bytes]
    log: Path
    name: str = ""  # a worker's name in RQ
    skew_s: float = 0.0
    worker_class: str = ""

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None


@dataclass
class Fleet:
    """One rqscheduler and the rq workers of the suite; everything dies in ``stop_all``."""

    redis_url: str
    env: dict[str, str]
    workdir: Path
    procs: list[Proc] = field(default_factory=list)
    started: Counter[str] = field(default_factory=Counter)

    # -- starting --

    def _popen(self, kind: str, argv: list[str], extra_env: Mapping[str, str]) -> Proc:
        log = self.workdir / f"{kind}-{self.started[kind]}.log"
        self.started[kind] += 1
        env = settings_free_env()
        env.update(self.env)
        env.update(
            {
                "REDIS_URL": self.redis_url,
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(extra_env)
        with log.open("wb") as out:
            popen = subprocess.Popen(
                argv,
                cwd=self.workdir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = Proc(kind, popen, log)
        self.procs.append(proc)
        return proc

    def start_scheduler(self) -> Proc:
        """``rqscheduler`` polling every SCHEDULER_INTERVAL_S; returns once it has registered."""
        client = self.client()
        try:
            before = set(client.scan_iter(match="rq:scheduler_instance:*"))
            proc = self._popen(
                "scheduler",
                [
                    str(BIN / "rqscheduler"),
                    "--url",
                    self.redis_url,
                    "-i",
                    str(SCHEDULER_INTERVAL_S),
                    "--path",
                    str(REPO),
                ],
                {},
            )

            def registered() -> bool:
                self._check_alive(proc)
                return bool(set(client.scan_iter(match="rq:scheduler_instance:*")) - before)

            wait_for(registered, timeout=60, what="rqscheduler to start", on_timeout=self.logs)
        finally:
            client.close()
        return proc

    def start_workers(
        self,
        count: int,
        *,
        skew_s: float = 0.0,
        wait: bool = True,
        worker_class: str = SIMPLE_WORKER,
    ) -> list[Proc]:
        """``count`` workers (host clock shifted by ``skew_s``), ready unless ``wait=False``.

        SimpleWorker by default (no fork per job: compressed time cannot wait for one); the
        deployment's forking ``worker.rq_worker.EngagementWorker`` on request.
        """
        new = []
        for _ in range(count):
            name = f"fault-{uuid.uuid4().hex[:8]}"
            argv = [
                sys.executable,
                "-c",
                "from tests.fault_harness import worker_main; worker_main()",
                QUEUE,
                "--url",
                self.redis_url,
                "--name",
                name,
                "--worker-class",
                worker_class,
                "--logging_level",
                "WARNING",
            ]
            proc = self._popen("worker", argv, {SKEW_ENV: repr(skew_s)})
            proc.name, proc.skew_s, proc.worker_class = name, skew_s, worker_class
            new.append(proc)
        if wait:
            self.wait_ready(new)
        return new

    def wait_ready(self, procs: Sequence[Proc], timeout: float = 90) -> None:
        client = self.client()
        try:

            def ready() -> bool:
                for proc in procs:
                    self._check_alive(proc)
                return all(client.exists(f"rq:worker:{p.name}") for p in procs)

            wait_for(ready, timeout=timeout, what="workers to register", on_timeout=self.logs)
        finally:
            client.close()

    def _check_alive(self, proc: Proc) -> None:
        if not proc.alive():
            raise AssertionError(f"{proc.kind} exited with {proc.popen.returncode}\n{self.logs()}")

    # -- what runs --

    def workers(self) -> list[Proc]:
        return [p for p in self.procs if p.kind == "worker" and p.alive()]

    def scheduler(self) -> Proc | None:
        return next((p for p in self.procs if p.kind == "scheduler" and p.alive()), None)

    def ensure(
        self,
        workers: int,
        *,
        skew_s: float = 0.0,
        worker_class: str = SIMPLE_WORKER,
        scheduler: bool = True,
    ) -> None:
        """Exactly ``workers`` live workers of that clock skew and class (others stopped)."""
        for proc in self.workers():
            if (proc.skew_s, proc.worker_class) != (skew_s, worker_class):
                self.terminate(proc)
        missing = workers - len(self.workers())
        for proc in self.workers()[workers:]:
            self.terminate(proc)
        if missing > 0:
            self.start_workers(missing, skew_s=skew_s, worker_class=worker_class)
        if scheduler and self.scheduler() is None:
            self.start_scheduler()

    def busy_workers(self) -> list[Proc]:
        """Live workers RQ reports busy (inside a job) right now."""
        client = self.client()
        try:
            return [
                p
                for p in self.workers()
                if _text(client.hget(f"rq:worker:{p.name}", "state") or b"") == "busy"
            ]
        finally:
            client.close()

    def heal(self, workers: int) -> int:
        """A supervisor's restart: replace dead workers (not waiting) and a dead scheduler."""
        replaced = 0
        if self.scheduler() is None:
            self.start_scheduler()
            replaced += 1
        missing = workers - len(self.workers())
        if missing > 0:
            self.start_workers(missing, wait=False)
            replaced += missing
        return replaced

    # -- stopping --

    def kill(self, proc: Proc) -> None:
        """SIGKILL ``proc``'s whole process group (a crash of its host)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.popen.wait(timeout=10)

    def terminate(self, proc: Proc, timeout: float = 10) -> None:
        """SIGTERM (a warm shutdown: RQ finishes the current job), SIGKILL if it hangs."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill(proc)
        with contextlib.suppress(ProcessLookupError):  # anything the group left behind
            os.killpg(proc.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=10)

    # -- helpers --

    def client(self) -> redis.Redis:
        import redis

        return redis.Redis.from_url(self.redis_url)

    def logs(self, tail: int = 25) -> str:
        parts = []
        for proc in self.procs[-12:]:
            lines = proc.log.read_text(errors="replace").splitlines()[-tail:]
            state = "running" if proc.alive() else f"exited {proc.popen.returncode}"
            parts.append(f"--- {proc.kind} {proc.name} ({state}) ---\n" + "\n".join(lines))
        return "\n".join(parts)


# ---- inside worker processes -----------------------------------------------------------


def worker_main() -> None:
    """A fault-suite worker: skew the host clock if asked, build the runtime, run ``rq worker``."""
    skew = float(os.environ.get(SKEW_ENV) or 0)
    if skew:
        from tests.skewed_worker import skew_host_clock

        skew_host_clock(skew)
    import worker.demo_handler
    import worker.jobs
    from worker.runtime import runtime

    runtime()
    worker.demo_handler._dry_run()
    from rq.cli import main

    sys.argv = ["rq", "worker", *sys.argv[1:]]
    main()


def slow_handle(
    *, profile_url: str, name: str, slot: EngagementRequest, **_: object
) -> HandlerResult:
    """The demo handler (counted first), then SLOW_HANDLER_S inside the action."""
    from worker.demo_handler import handle

    result = handle(profile_url=profile_url, name=name, slot=slot)
    time.sleep(SLOW_HANDLER_S)
    return result


def sleepy_handle(
    *, profile_url: str, name: str, slot: EngagementRequest, **_: object
) -> HandlerResult:
    """The demo handler (counted first), then SLEEPY_HANDLER_S inside the action."""
    from worker.demo_handler import handle

    result = handle(profile_url=profile_url, name=name, slot=slot)
    time.sleep(SLEEPY_HANDLER_S)
    return result


def host_clock() -> float:
    """An RQ job: this worker host's idea of now (epoch seconds, via ``datetime.now``)."""
    import datetime as dt

    return dt.datetime.now(dt.UTC).timestamp()


# ---- accounts, profiles and plans ------------------------------------------------------


@dataclass(frozen=True)
class AccountSpec:
    """One synthetic account: its overrides in the accounts file and its profile CSV."""

    name: str
    timezone: str
    start: str = "09:00"
    end: str = "18:00"
    handler: str = DEMO_HANDLER
    profiles: int = 100
    extra: Mapping[str, str | int | float] = field(default_factory=dict)

    def overrides(self, csv_path: Path) -> dict[str, str | int | float]:
        return {
            "TIMEZONE": self.timezone,
            "OPERATING_START": self.start,
            "OPERATING_END": self.end,
            "HANDLER": self.handler,
            "PROFILES_PATH": str(csv_path),
            **self.extra,
        }


def write_accounts_file(path: Path, specs: Iterable[AccountSpec], csv_dir: Path) -> None:
    lines = []
    for spec in specs:
        lines.append(f"[accounts.{spec.name}]")
        for key, value in spec.overrides(csv_dir / f"{spec.name}.csv").items():
            lines.append(f"{key} = {json.dumps(value)}")
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


def write_profiles_csv(path: Path, spec: AccountSpec, before: datetime, seed: int) -> None:
    """``spec.profiles`` rows, last liked 1-20 days before ``before`` (some past the deadline)."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["linkedin_url", "name", "last_like_date", "active"])
        for i in range(spec.profiles):
            last = (before - timedelta(days=rng.randint(1, 20))).date()
            out.writerow(
                [
                    f"https://www.linkedin.com/in/{spec.name}-p{i:03d}",
                    f"P{i}",
                    last.isoformat(),
                    "yes",
                ]
            )


def account_settings(base: Settings, account: str) -> Settings:
    from config.accounts import settings_for

    return settings_for(base, account)


def first_window_start(settings: Settings, day: date) -> datetime:
    from planner.timing import day_window

    return day_window(day, settings)[0]


def last_window_end(settings: Settings, day: date) -> datetime:
    from planner.timing import day_window

    return day_window(day, settings)[1]


def install_clock(
    client: redis.Redis,
    accounts: list[str],
    virtual_start: datetime,
    speed: float,
    lead_s: float,
) -> None:
    """Compressed time for ``accounts`` (one map) that reads ``virtual_start`` ``lead_s``
    real seconds from now."""
    from planner.server_clock import install

    install(client, accounts, virtual_start - timedelta(seconds=lead_s * speed), speed)


def plan_accounts(
    client: redis.Redis,
    base: Settings,
    accounts: Sequence[str],
    *,
    now: datetime,
    monday: date,
    seed: int,
    chain_ticks: bool = True,
) -> dict[str, WeeklyPlan]:
    """Generate, store and enqueue the week of every account (the daily chain too)."""
    import numpy as np

    from planner import chain
    from planner.service import Live, generate
    from planner.sources import CsvSource

    plans = {}
    for i, account in enumerate(accounts):
        settings = account_settings(base, account)
        live = Live.connect(client, settings, account)
        assert settings.PROFILES_PATH is not None
        profiles = CsvSource(settings.PROFILES_PATH).load(now, strict=True).profiles
        outcome = generate(
            live, profiles, now=now, rng=np.random.default_rng(seed + i), week_start=monday
        )
        assert outcome.action == "created", (account, outcome.action)
        plans[account] = outcome.plan
        if chain_ticks:
            chain.install(live, now)
    return plans


def live_for(client: redis.Redis, base: Settings, account: str) -> Live:
    from planner.service import Live

    return Live.connect(client, account_settings(base, account), account)


def load_week(client: redis.Redis, base: Settings, account: str, monday: date) -> WeeklyPlan:
    plan = live_for(client, base, account).store.load_week(account, monday)
    assert plan is not None, f"account {account}: the week of {monday} is gone"
    return plan


def open_slots_left(
    client: redis.Redis, base: Settings, accounts: Iterable[str], monday: date
) -> int:
    """Slots not yet terminal (pending or claimed) over ``accounts``."""
    from planner.weekly_plan import TERMINAL

    return sum(
        s.status not in TERMINAL
        for a in accounts
        for s in load_week(client, base, a, monday).slots()
    )


def queues_idle(client: redis.Redis, fleet: Fleet) -> bool:
    """Nothing waiting in the queue and no live worker inside a job.

    (A killed worker's execution stays in RQ's started registry until its heartbeat
    expires, so the registry itself is no measure of "nothing running".)
    """
    from rq import Queue

    return Queue(QUEUE, connection=client).count == 0 and not fleet.busy_workers()


def expire_dead_heartbeats(client: redis.Redis, fleet: Fleet) -> int:
    """Let what dead workers left behind in RQ run out; how many workers that was.

    A worker that dies keeps its registration (``rq:worker:<name>``) and its executions
    (``rq:execution:<job>:<id>``) until their TTLs, renewed by every heartbeat, run out:
    minutes of real time (RQ's worker TTL; the job timeout for SimpleWorker's execution).
    The service judges a run alive while both exist (``planner.live``). Compressed time
    cannot speed Redis TTLs up, so this deletes them for workers that are dead (and only
    those): the state Redis reaches by itself later.
    """
    alive = {p.name for p in fleet.workers()}
    expired = 0
    for raw in client.smembers("rq:workers"):
        name = _text(raw).removeprefix("rq:worker:")
        if name in alive:
            continue
        executions = f"rq:worker:{name}:executions"
        doomed = [f"rq:worker:{name}", executions]
        doomed += [f"rq:execution:{_text(m)}" for m in client.smembers(executions)]
        expired += bool(client.delete(*doomed))
    return expired


def pending_jobs(
    client: redis.Redis, base: Settings, accounts: Iterable[str], monday: date
) -> dict[str, dict[str, Any]]:
    """Every pending slot of ``accounts`` and where its current job is."""
    from planner import keys
    from planner.weekly_plan import Status

    out = {}
    queue_key = f"rq:queue:{QUEUE}"
    queued = set(client.lrange(queue_key, 0, -1))
    intermediate = set(client.lrange(f"{queue_key}:intermediate", 0, -1))
    for account in accounts:
        for slot in load_week(client, base, account, monday).slots():
            if slot.status is not Status.PENDING:
                continue
            job_id = _text(client.hget(keys.slot_jobs(account), slot.slot_id) or slot.slot_id)
            job = client.hgetall(f"rq:job:{job_id}")
            out[slot.slot_id] = {
                "job": job_id,
                "status": _text(job.get(b"status", b"-")),
                "scheduled": client.zscore("rq:scheduler:scheduled_jobs", job_id) is not None,
                "queued": job_id.encode() in queued,
                "intermediate": job_id.encode() in intermediate,
            }
    return out


def stuck_slots(client: redis.Redis, base: Settings, accounts: Iterable[str], monday: date) -> str:
    """Pending slots with where their current job is (for failure messages)."""
    return "\n".join(
        f"{sid}: {info}" for sid, info in pending_jobs(client, base, accounts, monday).items()
    )


def cancel_leftovers(client: redis.Redis, accounts: Iterable[str]) -> int:
    """Drop the scheduled jobs of ``accounts`` (next chain ticks, next week's slots)."""
    names = tuple(accounts)
    zkey = "rq:scheduler:scheduled_jobs"
    removed = 0
    for raw in client.zrange(zkey, 0, -1):
        job_id = _text(raw)
        if job_id.startswith(tuple(f"{a}-" for a in names)) or job_id.startswith(
            tuple(f"chain-{a}-" for a in names)
        ):
            removed += client.zrem(zkey, job_id)
            client.delete(f"rq:job:{job_id}")
    return removed


def recover(client: redis.Redis, base: Settings, account: str, monday: date) -> list[str]:
    """Turn claims left by dead workers into ``unknown`` (what ``status`` does); their ids."""
    from planner.service import recover_stale_claims

    live = live_for(client, base, account)
    plan = load_week(client, base, account, monday)
    return recover_stale_claims(live, plan, live.clock())


# ---- measuring -------------------------------------------------------------------------


@dataclass
class AccountReport:
    """What one account's week shows once the run is over."""

    account: str
    slots: int
    statuses: Counter[str]
    actions: int  # handler calls
    done: int
    violations: dict[str, int]
    lost: int  # slots not terminal, done slots missing from ledger / guard
    duplicated: int  # slots whose handler ran more than once
    problems: list[str] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)  # why slots were missed / skipped


def calls_of(client: redis.Redis, account: str) -> dict[str, int]:
    from planner import keys

    return {_text(k): int(v) for k, v in client.hgetall(keys.demo_calls(account)).items()}


def measure_account(
    client: redis.Redis,
    base: Settings,
    account: str,
    monday: date,
    *,
    reserve_extra_ok: bool = True,
) -> AccountReport:
    """I1-I5 and at-most-once for one account, from its slots, the tally, guard and ledger.

    ``reserve_extra_ok``: a non-done slot may still hold its guard reservation (a crash
    between recording the outcome and releasing it leaves the caps stricter, never looser).
    """
    from planner import keys
    from planner.clock import to_us
    from planner.demo import measure_violations
    from planner.profiles import profile_key
    from planner.weekly_plan import HANDLER_OUTCOMES, TERMINAL, Status

    settings = account_settings(base, account)
    plan = load_week(client, base, account, monday)
    slots = list(plan.slots())
    calls = calls_of(client, account)
    violations = measure_violations(plan, settings, calls)
    violations["consecutive_day"] = consecutive_day_breaches(plan, settings)
    problems = []
    tz = settings.tz
    ran_ids = {s.slot_id for s in slots if s.status in HANDLER_OUTCOMES}
    # at most once, and only slots that got as far as the handler show calls
    not_ran = [
        sid for sid in calls if sid not in ran_ids and _status(slots, sid) is not Status.UNKNOWN
    ]
    if not_ran:
        problems.append(f"handler ran for slots not recorded as run: {not_ran[:5]}")
        violations["double_execution"] += len(not_ran)
    missing_calls = [sid for sid in ran_ids if calls.get(sid, 0) != 1]
    if missing_calls:
        problems.append(f"slots recorded as run without exactly one call: {missing_calls[:5]}")
    # the guard: every done slot holds a reservation at its claim instant; extras only for
    # slots that went through the guard and did not end done
    reserved = {
        _text(m): int(score)
        for m, score in client.zrange(keys.guard_hour(account), 0, -1, withscores=True)
    }
    done = {s.slot_id: s for s in slots if s.status is Status.DONE}
    lost = 0
    for sid, slot in done.items():
        if slot.claimed_at is None or reserved.get(sid) != to_us(slot.claimed_at):
            lost += 1
            problems.append(f"done slot {sid} has no guard reservation at its claim instant")
    extra = set(reserved) - set(done)
    allowed_extra = {
        s.slot_id
        for s in slots
        if s.status in (HANDLER_OUTCOMES | {Status.UNKNOWN}) - {Status.DONE}
    }
    if extra - (allowed_extra if reserve_extra_ok else set()):
        violations["cap"] += len(extra - allowed_extra)
        problems.append(f"reservations without an action: {sorted(extra - allowed_extra)[:5]}")
    per_day = Counter(s.claimed_at.astimezone(tz).date() for s in done.values() if s.claimed_at)
    for day, count in per_day.items():
        counted = int(client.get(keys.guard_day(account, day)) or 0)
        if counted < count:
            lost += 1
            problems.append(f"day counter {day}: {counted} < {count} done")
    # the ledger knows every done slot
    ledger = live_for(client, base, account).store.get_ledger(account)
    for slot in done.values():
        entry = ledger.get(profile_key(slot.linkedin_url))
        if (
            entry is None
            or entry.last_done_at is None
            or (slot.finished_at is not None and entry.last_done_at < slot.finished_at)
        ):
            lost += 1
            problems.append(f"ledger lost the success of slot {slot.slot_id}")
    not_terminal = [s.slot_id for s in slots if s.status not in TERMINAL]
    lost += len(not_terminal)
    if not_terminal:
        problems.append(f"slots never finished: {not_terminal[:5]}")
    statuses = Counter(s.status.value for s in slots)
    return AccountReport(
        account=account,
        slots=len(slots),
        statuses=statuses,
        actions=sum(calls.values()),
        done=len(done),
        violations=violations,
        lost=lost,
        duplicated=sum(n > 1 for n in calls.values()),
        problems=problems,
        reasons=Counter(
            f"{s.status.value}: {s.reason.split(';')[0]}"
            for s in slots
            if s.status in (Status.MISSED, Status.SKIPPED)
        ),
    )


def consecutive_day_breaches(plan: WeeklyPlan, settings: Settings) -> int:
    """I5: attempts on local day d+1 of a profile engaged successfully on day d."""
    from planner.profiles import profile_key
    from planner.weekly_plan import HANDLER_OUTCOMES, Status

    tz = settings.tz
    done_days: dict[str, set[date]] = defaultdict(set)
    attempts: list[tuple[str, date]] = []
    for s in plan.slots():
        if s.claimed_at is None or s.status not in HANDLER_OUTCOMES | {Status.UNKNOWN}:
            continue
        day = s.claimed_at.astimezone(tz).date()
        key = profile_key(s.linkedin_url)
        attempts.append((key, day))
        if s.status is Status.DONE:
            done_days[key].add(day)
    return sum(day - timedelta(days=1) in done_days[key] for key, day in attempts)


def require(condition: object, message: str) -> None:
    """A set-up step that must hold (RuntimeError: a broken set-up, not a failed check)."""
    if not condition:
        raise RuntimeError(message)


def _status(slots: Sequence[Any], slot_id: str) -> Any:
    return next((s.status for s in slots if s.slot_id == slot_id), None)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


# ---- the summary table -----------------------------------------------------------------


@dataclass
class SummaryRow:
    scenario: str
    faults: int
    actions: int
    violations: int
    lost: int
    duplicated: int
    note: str = ""


@dataclass
class Summary:
    """Rows collected by the tests, printed once at the end of the module."""

    rows: list[SummaryRow] = field(default_factory=list)

    def add(self, row: SummaryRow) -> None:
        self.rows.append(row)

    def table(self) -> str:
        head = ("scenario", "faults injected", "actions run", "violations", "lost", "duplicated")
        body = [
            (
                r.scenario,
                str(r.faults),
                str(r.actions),
                str(r.violations),
                str(r.lost),
                str(r.duplicated),
            )
            for r in self.rows
        ]
        total = (
            "total",
            str(sum(r.faults for r in self.rows)),
            str(sum(r.actions for r in self.rows)),
            str(sum(r.violations for r in self.rows)),
            str(sum(r.lost for r in self.rows)),
            str(sum(r.duplicated for r in self.rows)),
        )
        widths = [max(len(row[i]) for row in [head, *body, total]) for i in range(len(head))]

        def line(cells: Sequence[str]) -> str:
            first = cells[0].ljust(widths[0])
            rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
            return "  ".join([first, *rest])

        rule = "  ".join("-" * w for w in widths)
        notes = [f"  {r.scenario}: {r.note}" for r in self.rows if r.note]
        return "\n".join([line(head), rule, *map(line, body), rule, line(total), *notes])


def one_slot(live: Live, at: datetime) -> WeeklyPlan:
    """A stored week (replacing any) with a single open slot at ``at`` (the account's settings)."""
    from planner.weekly_plan import (
        DailySlot,
        ScheduledEngagement,
        WeeklyPlan,
        slot_id_for,
        week_monday,
    )

    day = at.astimezone(live.settings.tz).date()
    slot = ScheduledEngagement(
        slot_id=slot_id_for(live.account, day, 0),
        index=0,
        linkedin_url=f"https://www.linkedin.com/in/{live.account}-solo",
        name="Solo",
        scheduled_time=f"{at.astimezone(live.settings.tz):%H:%M}",
        scheduled_at=at,
        priority_score=1.0,
        days_since_last_like=10.0,
        forced=False,
    )
    monday = week_monday(day)
    plan = WeeklyPlan(
        account=live.account,
        timezone=live.settings.TIMEZONE,
        week_start=monday,
        week_number=monday.isocalendar()[1],
        created_at=at,
        days={day.isoformat(): DailySlot(date=day, budget=1, engagements=[slot])},
    )
    live.store.save_week(plan, replace=True)
    return plan
