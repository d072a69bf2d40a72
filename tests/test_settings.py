"""Settings: the seed's constants and defaults, and contradictions refused with both values."""

from __future__ import annotations

from datetime import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config import settings as seed_style
from config.settings import Settings, SettingsError, load_settings, max_actions_in_window

SEED_DEFAULTS = {
    "WEEKLY_BUDGET_TARGET": 80,
    "DAILY_BUDGET_MEAN": 12,
    "DAILY_BUDGET_STD": 4,
    "DAILY_BUDGET_MIN": 5,
    "DAILY_BUDGET_MAX": 20,
    "FORCE_INCLUDE_DAYS_THRESHOLD": 12,
    "FORCE_INCLUDE_MAX_PER_DAY": 5,
    "COVERAGE_GUARANTEE_DAYS": 14,
    "PRIORITY_DAYS_WEIGHT": 0.8,
    "PRIORITY_DAYS_CAP": 12.0,
    "PRIORITY_JITTER_MAX": 5.0,
    "SELECTION_POOL_MULTIPLIER": 2,
    "TIMING_RATE_MORNING_WARMUP": 0.6,
    "TIMING_RATE_MID_MORNING": 1.3,
    "TIMING_RATE_LUNCH_DIP": 0.8,
    "TIMING_RATE_AFTERNOON_PEAK": 1.2,
    "TIMING_RATE_AFTERNOON_WIND": 0.7,
    "TIMING_RATE_END_OF_DAY": 0.4,
    "TIMING_MIN_GAP_MINUTES": 3,
    "TIMING_JITTER_MINUTES": 5,
    "BURST_DAY_PROBABILITY": 0.15,
    "BURST_DAY_EXTRA_MIN": 3,
    "BURST_DAY_EXTRA_MAX": 5,
    "HOURLY_LIMIT": 6,
    "DAILY_LIMIT": 20,
    "WEEKLY_LIMIT": 80,
    "OPERATING_START": time(9, 0),
    "OPERATING_END": time(18, 0),
}


def fresh(**values: object) -> Settings:
    return load_settings(_env_file=None, **values)


@pytest.mark.parametrize(("name", "value"), SEED_DEFAULTS.items())
def test_seed_constants_keep_names_and_defaults(name: str, value: object) -> None:
    """Every constant of seed section 4.5 exists with the seed's default."""
    assert getattr(fresh(), name) == value


def test_seed_style_module_access(monkeypatch: pytest.MonkeyPatch) -> None:
    """``from config import settings; settings.DAILY_LIMIT`` works as in the seed's code."""
    assert seed_style.DAILY_LIMIT == Settings(_env_file=None).DAILY_LIMIT  # type: ignore[call-arg]
    with pytest.raises(AttributeError):
        _ = seed_style.not_a_setting


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    """Environment variables of the same name override defaults, validated."""
    monkeypatch.setenv("HOURLY_LIMIT", "7")
    assert fresh().HOURLY_LIMIT == 7
    monkeypatch.setenv("HOURLY_LIMIT", "seven")
    with pytest.raises(SettingsError, match="HOURLY_LIMIT='seven'"):
        fresh()


@pytest.mark.parametrize(
    ("values", "names"),
    [
        ({"DAILY_BUDGET_MAX": 25}, ["DAILY_BUDGET_MAX=25", "DAILY_LIMIT=20"]),
        ({"WEEKLY_BUDGET_TARGET": 90}, ["WEEKLY_BUDGET_TARGET=90", "WEEKLY_LIMIT=80"]),
        ({"WEEKLY_BUDGET_TARGET": 30}, ["WEEKLY_BUDGET_TARGET=30", "DAILY_BUDGET_MIN=35"]),
        (
            {"WEEKLY_BUDGET_TARGET": 150, "WEEKLY_LIMIT": 200},
            ["WEEKLY_BUDGET_TARGET=150", "DAILY_BUDGET_MAX=140"],
        ),
        ({"DAILY_BUDGET_MIN": 21}, ["DAILY_BUDGET_MIN=21", "DAILY_BUDGET_MAX=20"]),
        ({"OPERATING_END": "10:00"}, ["09:00-10:00", "DAILY_BUDGET_MAX=20"]),
        ({"OPERATING_START": "18:00"}, ["OPERATING_START=18:00", "OPERATING_END=18:00"]),
        ({"BURST_DAY_EXTRA_MIN": 6}, ["BURST_DAY_EXTRA_MIN=6", "BURST_DAY_EXTRA_MAX=5"]),
        (
            {"FORCE_INCLUDE_DAYS_THRESHOLD": 14},
            ["FORCE_INCLUDE_DAYS_THRESHOLD=14", "COVERAGE_GUARANTEE_DAYS=14"],
        ),
        ({"TIMING_MIN_GAP_MINUTES": 30}, ["TIMING_MIN_GAP_MINUTES=30", "DAILY_BUDGET_MAX=20"]),
    ],
)
def test_contradictions_name_both_values(values: dict[str, object], names: list[str]) -> None:
    """A contradiction is refused with a message naming both settings and their values."""
    with pytest.raises(SettingsError) as info:
        fresh(**values)
    for name in names:
        assert name in str(info.value)


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"TIMEZONE": "Mars/Olympus"}, "Mars/Olympus"),
        ({"HANDLER": "selenium"}, "HANDLER='selenium'"),
        ({"HANDLER": "webhook"}, "WEBHOOK_URL"),
        ({"BURST_DAY_PROBABILITY": 1.5}, "BURST_DAY_PROBABILITY"),
        ({"TIMING_RATE_LUNCH_DIP": 0}, "TIMING_RATE_LUNCH_DIP"),
        ({"SCHEDULER_BACKEND": "cron"}, "SCHEDULER_BACKEND"),
    ],
)
def test_bad_single_values_are_named(values: dict[str, object], fragment: str) -> None:
    """A bad single value is refused naming the setting."""
    with pytest.raises(SettingsError, match=fragment.replace("(", r"\(")):
        fresh(**values)


@pytest.mark.parametrize(
    ("window", "gap", "hourly", "expected"),
    [
        (540, 3, 6, 54),
        (60, 3, 6, 6),
        (60, 0, 100, 100),
        (10, 3, 6, 4),
        (0, 3, 6, 0),
        (61, 10, 2, 3),
    ],
)
def test_max_actions_in_window(window: float, gap: float, hourly: int, expected: int) -> None:
    """Greedy earliest placement counts how many actions a window can hold."""
    assert max_actions_in_window(window, gap, hourly) == expected


@given(st.integers(1, 20), st.integers(1, 60), st.integers(1, 12))
def test_valid_settings_always_load(budget_max: int, gap: int, hourly: int) -> None:
    """Any combination whose window fits the daily maximum loads; the rest is refused."""
    fits = max_actions_in_window(540, gap, hourly) >= budget_max
    values = {
        "DAILY_BUDGET_MAX": budget_max,
        "DAILY_BUDGET_MIN": 1,
        "DAILY_BUDGET_MEAN": 1,
        "WEEKLY_BUDGET_TARGET": 7,
        "TIMING_MIN_GAP_MINUTES": gap,
        "HOURLY_LIMIT": hourly,
    }
    if fits:
        assert budget_max == fresh(**values).DAILY_BUDGET_MAX
    else:
        with pytest.raises(SettingsError, match="fits only"):
            fresh(**values)
