"""The plan models: the seed's section 6 JSON, ids, and refusals that name what is wrong."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Any

import pytest

from planner.weekly_plan import (
    PlanError,
    Status,
    WeeklyPlan,
    iso_week_label,
    parse_iso_week,
    slot_id_for,
)

SEED_PLAN: dict[str, Any] = {
    "week_start": "2026-02-09",
    "week_number": 7,
    "total_budget": 28,
    "created_at": "2026-02-09T09:01:23",
    "days": {
        "2026-02-09": {
            "budget": 17,
            "is_burst_day": False,
            "completed": 1,
            "engagements": [
                {
                    "linkedin_url": "https://linkedin.com/in/someone",
                    "name": "Someone",
                    "scheduled_time": "09:23",
                    "priority_score": 14.2,
                    "days_since_last_like": 11.3,
                    "forced": False,
                    "status": "done",
                }
            ],
        },
        "2026-02-10": {
            "budget": 11,
            "is_burst_day": False,
            "completed": 0,
            "engagements": [
                {
                    "linkedin_url": "https://linkedin.com/in/other",
                    "name": "Other",
                    "scheduled_time": "10:05",
                    "priority_score": 9.0,
                    "days_since_last_like": 4.0,
                    "forced": True,
                    "status": "pending",
                }
            ],
        },
    },
}
SEED_ENGAGEMENT_KEYS = set(SEED_PLAN["days"]["2026-02-09"]["engagements"][0])


def test_bare_seed_document_is_accepted_and_completed() -> None:
    """A seed plan without our extension keys loads; ids and instants are derived."""
    plan = WeeklyPlan.from_json(copy.deepcopy(SEED_PLAN), account="acct")
    first = plan.days["2026-02-09"].engagements[0]
    assert first.slot_id == "acct-20260209-000"
    assert first.scheduled_at == datetime(2026, 2, 9, 9, 23, tzinfo=UTC)
    assert first.status is Status.DONE
    assert plan.total_budget == 28
    assert plan.total_completed() == 1


def test_seed_keys_round_trip_exactly() -> None:
    """to_json keeps every seed key with the seed's value (extension keys are added)."""
    out = WeeklyPlan.from_json(copy.deepcopy(SEED_PLAN)).to_json()
    for key in ("week_start", "week_number", "total_budget"):
        assert out[key] == SEED_PLAN[key]
    for day_key, day in SEED_PLAN["days"].items():
        got = out["days"][day_key]
        for key in ("budget", "is_burst_day", "completed"):
            assert got[key] == day[key]
        for mine, theirs in zip(got["engagements"], day["engagements"], strict=True):
            assert {k: mine[k] for k in SEED_ENGAGEMENT_KEYS} == theirs


def test_full_document_round_trips_identically() -> None:
    """from_json(to_json(plan)) is the same plan, and its JSON is byte-for-byte stable."""
    plan = WeeklyPlan.from_json(copy.deepcopy(SEED_PLAN))
    again = WeeklyPlan.from_json(plan.to_json())
    assert again == plan
    assert again.to_json() == plan.to_json()


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d.update(week_start="2026-02-10"), "not a Monday"),
        (lambda d: d.update(week_number=8), "week_number 8"),
        (lambda d: d.update(schema_version=99), "schema_version 99"),
        (lambda d: d["days"]["2026-02-09"]["engagements"][0].update(status="liked"), "status"),
        (
            lambda d: d["days"]["2026-02-09"]["engagements"][0].update(scheduled_time="9h"),
            "scheduled_time",
        ),
        (lambda d: d["days"]["2026-02-09"].update(budget=0), "budget of 0"),
        (lambda d: d["days"].update({"2026-02-20": d["days"].pop("2026-02-10")}), "2026-02-20"),
        (lambda d: d.update(timezone="Nowhere/City"), "Nowhere/City"),
    ],
)
def test_bad_documents_are_refused_naming_the_field(mutate: Any, fragment: str) -> None:
    """Every malformed plan raises PlanError whose message points at the problem."""
    doc = copy.deepcopy(SEED_PLAN)
    mutate(doc)
    with pytest.raises(PlanError, match=fragment.replace("(", r"\(")):
        WeeklyPlan.from_json(doc)


def test_not_an_object_is_refused() -> None:
    """A JSON list is not a plan."""
    with pytest.raises(PlanError, match="JSON object"):
        WeeklyPlan.from_json([])


def test_slot_ids_are_valid_rq_job_ids() -> None:
    """Slot ids are stable and match [A-Za-z0-9_-]+ (rq rejects colons)."""
    assert slot_id_for("main_acct", date(2026, 2, 9), 7) == "main_acct-20260209-007"
    with pytest.raises(PlanError):
        slot_id_for("bad:acct", date(2026, 2, 9), 0)


@pytest.mark.parametrize(
    ("label", "monday"),
    [
        ("2026-W07", date(2026, 2, 9)),
        ("2026W07", date(2026, 2, 9)),
        ("2020-W53", date(2020, 12, 28)),
    ],
)
def test_iso_weeks_parse_and_print(label: str, monday: date) -> None:
    """ISO week labels map to their Monday and back."""
    assert parse_iso_week(label) == monday
    assert parse_iso_week(iso_week_label(monday)) == monday


@pytest.mark.parametrize("label", ["2026-07", "W07", "2026-W54", "2025-W53"])
def test_bad_week_labels_are_refused(label: str) -> None:
    """Malformed or nonexistent weeks are refused with the label in the message."""
    with pytest.raises(PlanError, match=label):
        parse_iso_week(label)


def test_get_today_uses_the_plan_time_zone() -> None:
    """Late on Monday in UTC is already Tuesday in Tokyo."""
    doc = copy.deepcopy(SEED_PLAN) | {"timezone": "Asia/Tokyo"}
    plan = WeeklyPlan.from_json(doc)
    today = plan.get_today(datetime(2026, 2, 9, 20, 0, tzinfo=UTC))
    assert today is not None and today.date == date(2026, 2, 10)
