"""Rich renderings of a plan for people: the week at a glance, then one table per day."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from planner.ledger import NEVER_ENGAGED_DAYS
from planner.weekly_plan import DailySlot, ScheduledEngagement, Status, WeeklyPlan

STATUS_STYLE = {
    Status.PENDING: "cyan",
    Status.CLAIMED: "yellow",
    Status.DONE: "green",
    Status.SKIPPED: "dim",
    Status.FAILED: "red",
    Status.ALREADY_REACTED: "magenta",
    Status.NO_POSTS: "magenta",
    Status.MISSED: "red",
    Status.UNKNOWN: "bold red",
}
STRIP_STEP_MIN = 15  # one character of the calendar strip per quarter hour


def week_overview(plan: WeeklyPlan, start_min: int, end_min: int) -> Table:
    """Budget per day with burst/light marks and a strip showing when the actions fall."""
    table = Table(title=f"Week {plan.label} · account {plan.account} · {plan.timezone}")
    table.add_column("day")
    table.add_column("budget", justify="right")
    table.add_column("done", justify="right")
    table.add_column("", no_wrap=True)
    hours = [f"{h:02d}" for h in range(start_min // 60, (end_min + 59) // 60)]
    table.add_column("  ".join(hours), no_wrap=True)
    for key in sorted(plan.days):
        day = plan.days[key]
        mark = "burst" if day.is_burst_day else ("light" if day.is_light_day else "")
        table.add_row(
            f"{day.date:%a %d %b}",
            str(day.budget),
            str(day.completed),
            mark,
            _strip(day, plan, start_min, end_min),
        )
    table.caption = (
        f"total budget {plan.total_budget} · executed {plan.total_completed()} · "
        f"revision {plan.revision}"
    )
    return table


def _strip(day: DailySlot, plan: WeeklyPlan, start_min: int, end_min: int) -> Text:
    cells = max(1, (end_min - start_min) // STRIP_STEP_MIN)
    counts = [0] * cells
    for e in day.engagements:
        local = e.scheduled_at.astimezone(plan.tz)
        minute = local.hour * 60 + local.minute - start_min
        counts[min(cells - 1, max(0, minute // STRIP_STEP_MIN))] += 1
    glyphs = " ▂▄▆█"
    text = Text()
    for i, c in enumerate(counts):
        text.append(glyphs[min(c, 4)], style="bold" if c else "dim")
        if i % 4 == 3:
            text.append(" ")
    return text


def day_table(day: DailySlot, plan: WeeklyPlan) -> Table:
    table = Table(title=f"{day.date:%A %Y-%m-%d} · budget {day.budget}", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("time")
    table.add_column("profile")
    table.add_column("score", justify="right")
    table.add_column("days since", justify="right")
    table.add_column("forced")
    table.add_column("status")
    for e in day.engagements:
        table.add_row(
            str(e.index),
            e.scheduled_time,
            e.name or Text("(no eligible profile)", style="dim"),
            f"{e.priority_score:.1f}",
            "never"
            if e.days_since_last_like >= NEVER_ENGAGED_DAYS
            else f"{e.days_since_last_like:.1f}",
            "yes" if e.forced else "",
            _status(e),
        )
    return table


def _status(e: ScheduledEngagement) -> Text:
    text = Text(e.status.value, style=STATUS_STYLE[e.status])
    if e.reason:
        text.append(f" ({e.reason})", style="dim")
    return text


def render_plan(
    console: Console,
    plan: WeeklyPlan,
    *,
    start_min: int,
    end_min: int,
    only_day: date | None = None,
) -> None:
    parts: list[Table] = [week_overview(plan, start_min, end_min)]
    days: Iterable[DailySlot] = (plan.days[k] for k in sorted(plan.days))
    parts += [day_table(d, plan) for d in days if only_day is None or d.date == only_day]
    console.print(Group(*parts))


def fmt_local(instant: datetime | None, plan: WeeklyPlan) -> str:
    return "-" if instant is None else f"{instant.astimezone(plan.tz):%a %H:%M}"
