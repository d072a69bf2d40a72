"""Start and stop real ``rq worker`` and ``rqscheduler`` processes for tests.

Every process is started in a session of its own, so a test can SIGKILL a worker together
with everything it forked (its work horse, RQ's scheduler process), and teardown can never
leave one behind. Output goes to log
files under the test's tmp dir (printed when a wait times out). Processes run in that tmp
dir, not the repo, so a developer's ``.env`` cannot leak settings into them; settings go in
through the environment only, with every settings variable of the parent removed first.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import rq

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
QUEUE = "engagements"
HANDLER = "python:tests.counting_handler:handle"
WORKER_CLASS = "tests.procs.PreloadedWorker"


class PreloadedWorker(rq.Worker):
    """RQ's default forking worker, with the job module imported once in the parent.

    Each job still runs in a freshly forked work horse, exactly as with ``rq worker``; the
    horse just inherits ``worker.jobs`` instead of spending ~3 s importing it, so slots a
    few seconds apart are not made late by the imports.
    """


def _preload() -> None:
    if os.environ.get("TESTS_PRELOAD_JOBS") == "1":
        import worker.jobs  # noqa: F401


_preload()


def env_value(value: Any) -> str:
    """A settings value as pydantic-settings reads it from the environment."""
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def worker_env(redis_url: str, settings: Mapping[str, Any]) -> dict[str, str]:
    """The parent's environment minus every settings variable, plus ``settings``."""
    from config.settings import Settings

    env = {k: v for k, v in os.environ.items() if k not in Settings.model_fields}
    env.update({k: env_value(v) for k, v in settings.items()})
    env.update(
        {
            "REDIS_URL": redis_url,
            "HANDLER": HANDLER,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
            "TESTS_PRELOAD_JOBS": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def wait_for(
    predicate: Callable[[], bool],
    *,
    timeout: float = 60.0,
    interval: float = 0.05,
    what: str = "condition",
    on_timeout: Callable[[], str] | None = None,
) -> None:
    """Poll ``predicate`` until true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            detail = on_timeout() if on_timeout else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{detail}")
        time.sleep(interval)


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    rq_name: str | None = None  # a worker's name in RQ
    with_scheduler: bool = False  # a worker running RQ's built-in scheduler
    reaped: bool = False  # no process of its group is left

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None


@dataclass
class Procs:
    """The processes of one test; ``stop_all`` runs in fixture teardown."""

    redis_url: str
    settings: Mapping[str, Any]
    workdir: Path
    procs: list[Proc] = field(default_factory=list)

    def _start(self, name: str, argv: list[str]) -> Proc:
        log = self.workdir / f"{name}-{len(self.procs)}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                argv,
                cwd=self.workdir,
                env=worker_env(self.redis_url, self.settings),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def start_worker(self, *, with_scheduler: bool = False, name: str = "worker") -> Proc:
        """``rq worker engagements`` (forking), optionally with RQ's built-in scheduler."""
        rq_name = f"{name}-{uuid.uuid4().hex[:8]}"
        argv = [str(BIN / "rq"), "worker", QUEUE, "--url", self.redis_url, "--name", rq_name]
        argv += ["--worker-class", WORKER_CLASS, "--path", str(REPO)]
        if with_scheduler:
            argv.append("--with-scheduler")
        proc = self._start(name, argv)
        proc.rq_name = rq_name
        proc.with_scheduler = with_scheduler
        return proc

    def start_rqscheduler(self, interval_s: float = 0.2) -> Proc:
        """The ``rqscheduler`` process of the rq-scheduler backend."""
        argv = [str(BIN / "rqscheduler"), "--url", self.redis_url, "-i", str(interval_s)]
        argv += ["--path", str(REPO)]
        return self._start("rqscheduler", argv)

    def start_backend(self, backend: str, *, workers: int = 1) -> list[Proc]:
        """The process that moves delayed jobs for ``backend`` first, then the workers.

        For the ``rq`` backend the first worker runs RQ's scheduler (``--with-scheduler``);
        returns when every process is ready.
        """
        started = []
        if backend == "rq-scheduler":
            started.append(self.start_rqscheduler())
        for i in range(workers):
            started.append(self.start_worker(with_scheduler=backend == "rq", name=f"worker{i}"))
        self.wait_ready(started)
        return started

    def wait_ready(self, procs: list[Proc]) -> None:
        """Until each worker has registered and each scheduler holds or polls its lock."""
        client = redis.Redis.from_url(self.redis_url)
        try:

            def ready(proc: Proc) -> bool:
                if proc.rq_name is None:  # rqscheduler: an instance that has not died
                    return any(
                        not client.hexists(key, "death")
                        for key in client.scan_iter(match="rq:scheduler_instance:*")
                    )
                if proc.with_scheduler and not client.exists(f"rq:scheduler-lock:{QUEUE}"):
                    return False
                return bool(client.exists(f"rq:worker:{proc.rq_name}"))

            wait_for(
                lambda: all(ready(p) for p in procs),
                timeout=60,
                what="processes to start",
                on_timeout=self.logs,
            )
        finally:
            client.close()

    def terminate(self, proc: Proc, timeout: float = 15.0) -> None:
        """SIGTERM (warm shutdown: RQ finishes the current job, schedulers drop locks)."""
        _signal_group(proc, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(timeout=timeout)
        self.kill(proc)

    def kill(self, proc: Proc) -> None:
        """SIGKILL ``proc`` and everything it started, like a crash of its host.

        Killing the process group is not enough: RQ's work horse calls ``setpgrp()``, so it
        has a group of its own (in the same session) and would go on with the job.
        """
        if proc.reaped:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            members = _live_session_members(proc.pid)
            for pid in members:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if proc.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
            elif not members:
                break
            time.sleep(0.05)
        proc.popen.wait(timeout=10)
        proc.reaped = True

    def stop_all(self) -> None:
        """Teardown: SIGKILL every process started, with whatever it forked."""
        for proc in self.procs:
            self.kill(proc)

    def logs(self, tail: int = 40) -> str:
        """The last lines of every process's output (for failure messages)."""
        parts = []
        for proc in self.procs:
            lines = proc.log.read_text(errors="replace").splitlines()[-tail:]
            state = "running" if proc.alive() else f"exited {proc.popen.returncode}"
            parts.append(f"--- {proc.name} pid {proc.pid} ({state}) ---\n" + "\n".join(lines))
        return "\n".join(parts)


def _signal_group(proc: Proc, sig: int) -> None:
    """Send ``sig`` to ``proc``'s process group, if it is still there."""
    if not proc.reaped:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)


def _live_session_members(sid: int) -> list[int]:
    """Pids of the session ``sid`` (started with ``start_new_session``), zombies left out."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # gone meanwhile
            continue
        state, _ppid, _pgrp, session = stat.rsplit(")", 1)[1].split()[:4]
        if int(session) == sid and state != "Z":
            found.append(int(entry))
    return found
