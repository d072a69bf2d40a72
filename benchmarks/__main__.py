"""``python -m benchmarks [--quick] [--json]``: every benchmark, its target and its verdict.

Exit 0 when every target is met, 1 otherwise. ``--json`` prints
``{name: {"value", "unit", "target", "baseline", "ratio", "pass"}}`` on stdout (notes go
to stderr); otherwise a table. ``--quick`` does fewer repetitions and times 100 of the 1,000
accounts, scaling that entry linearly; the notes say where.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable

from benchmarks.model import Entry


def run(quick: bool, only: set[str] | None, progress: Callable[[str], None]) -> list[Entry]:
    from benchmarks import action, cli, guard, plan, sim, store
    from benchmarks.server import private_redis
    from config.settings import Settings

    entries: list[Entry] = []

    def wanted(group: str) -> bool:
        return only is None or group in only

    cores = os.cpu_count() or 1
    if wanted("plan"):
        progress("plan generation")
        settings = Settings(_env_file=None)
        sizes = (100, 1_000, 10_000, 100_000)
        entries += plan.measure(sizes, repeats=5 if quick else 15, settings=settings)
    if wanted("sim"):
        progress("scheduler simulation")
        entries += sim.measure(quick)
    with private_redis() as server:
        if wanted("guard"):
            progress("guard throughput")
            entries += guard.measure(server.url, (1, 4, 16), seconds=1.0 if quick else 3.0)
        if wanted("action"):
            progress("per-action overhead")
            entries += action.measure(server.url, n=200 if quick else 1000)
        if wanted("cli"):
            progress("CLI cold start")
            entries += cli.measure(server.url, repeats=5 if quick else 11)
        if wanted("memory"):
            progress("Redis memory")
            entries += store.memory(server.url)
        if wanted("accounts"):
            progress("1,000 accounts")
            entries += store.accounts(server.url, 100 if quick else 1000, workers=cores)
    return entries


def cpu_pressure() -> str:
    """Linux PSI: the share of the last 10 s in which runnable tasks waited for a CPU.

    Timings are only comparable on an otherwise idle machine; this says how idle it was.
    """
    try:
        with open("/proc/pressure/cpu") as psi:
            line = psi.readline().split()
    except OSError:
        return "unknown"
    fields = dict(part.split("=") for part in line[1:])
    return f"{fields.get('avg10', '?')}%"


def render(entries: list[Entry], quick: bool, seconds: float, pressure: str) -> None:
    from rich.console import Console
    from rich.table import Table

    title = (
        f"benchmarks ({'quick' if quick else 'full'} run, {seconds:.0f} s, "
        f"{os.cpu_count()} cores, CPU pressure {pressure})"
    )
    table = Table(title=title)
    for column in ("benchmark", "value", "target", "baseline", "ratio", "pass", "note"):
        table.add_column(column, justify="right" if column in ("value", "ratio") else "left")
    for e in entries:
        ratio = e.ratio
        baseline = "" if e.baseline is None else f"{_num(e.baseline)} {e.unit}"
        if e.baseline_what:
            baseline += f" ({e.baseline_what})"
        table.add_row(
            e.name,
            f"{_num(e.value)} {e.unit}",
            e.target_text or "-",
            baseline or "-",
            "-" if ratio is None else f"{ratio:.2f}",
            "[green]yes[/]" if e.passed else "[bold red]NO[/]",
            e.note,
        )
    Console(width=200).print(table)


def _num(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (~40 s)")
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")
    parser.add_argument(
        "--only",
        action="append",
        choices=["plan", "sim", "guard", "action", "cli", "memory", "accounts"],
        help="run only these groups (repeatable)",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()

    def progress(what: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {what} ...", file=sys.stderr, flush=True)

    progress(f"CPU pressure before: {cpu_pressure()}")
    entries = run(args.quick, set(args.only) if args.only else None, progress)
    seconds = time.perf_counter() - started
    pressure = cpu_pressure()
    if args.json:
        print(json.dumps({e.name: e.to_json() for e in entries}, indent=2))
        for e in entries:
            print(f"{e.name}: {e.note}", file=sys.stderr)
        progress(f"CPU pressure after: {pressure}")
    else:
        render(entries, args.quick, seconds, pressure)
    return 0 if all(e.passed for e in entries) else 1


if __name__ == "__main__":
    sys.exit(main())
