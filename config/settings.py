"""Settings: every constant of the seed plan (section 4.5) plus the guards and plumbing.

Values come from keyword arguments, then environment variables (same names), then an
optional ``.env`` file, then the defaults below. Loading validates every value and the
consistency between them; a contradiction is refused with a message naming both values.

Two ways to read them:

* ``Settings()`` / ``load_settings()`` builds an object that the CLI and the worker pass
  down (library code never reads ``os.environ`` itself);
* ``from config import settings; settings.DAILY_LIMIT`` reads the process-wide defaults,
  the way the seed's code reads its constants (loaded lazily, on first attribute access).
"""

from __future__ import annotations

from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PositiveInt = Annotated[int, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Rate = Annotated[float, Field(gt=0.0)]

HandlerName = str  # "dry-run", "webhook", or "python:package.module:callable"


class SettingsError(ValueError):
    """Raised when settings are malformed or contradict each other."""


def max_actions_in_window(window_minutes: float, gap_minutes: float, hourly_limit: int) -> int:
    """Most actions that fit in a window with a minimum gap and a rolling-hour cap.

    Greedy earliest placement is optimal for both constraints: the i-th action goes at
    the later of (previous + gap) and (the action ``hourly_limit`` places back + 60 min).
    Times live in ``[0, window)``.
    """
    if window_minutes <= 0:
        return 0
    placed: list[float] = []
    t = 0.0
    while t < window_minutes:
        placed.append(t)
        t = placed[-1] + gap_minutes
        if len(placed) >= hourly_limit:
            t = max(t, placed[-hourly_limit] + 60.0)
        if len(placed) > 10_000:  # a zero gap with a huge cap: the answer is "plenty"
            break
    return len(placed)


class Settings(BaseSettings):
    """All tunables of the scheduler, validated together."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        case_sensitive=True,
    )

    # ---- seed section 4.5: state file -------------------------------------------------
    SCHEDULE_STATE_FILE: Path = Path("schedule_state.json")

    # ---- seed section 4.5: budget sampling ---------------------------------------------
    WEEKLY_BUDGET_TARGET: NonNegInt = 80
    DAILY_BUDGET_MEAN: float = Field(12.0, ge=0)
    DAILY_BUDGET_STD: float = Field(4.0, ge=0)
    DAILY_BUDGET_MIN: NonNegInt = 5
    DAILY_BUDGET_MAX: PositiveInt = 20

    # ---- seed section 4.5: coverage thresholds -----------------------------------------
    FORCE_INCLUDE_DAYS_THRESHOLD: NonNegInt = 12
    FORCE_INCLUDE_MAX_PER_DAY: NonNegInt = 5
    COVERAGE_GUARANTEE_DAYS: PositiveInt = 14

    # ---- seed section 4.5: scoring ------------------------------------------------------
    PRIORITY_DAYS_WEIGHT: float = Field(0.8, gt=0)
    PRIORITY_DAYS_CAP: float = Field(12.0, gt=0)
    PRIORITY_JITTER_MAX: float = Field(5.0, ge=0)
    SELECTION_POOL_MULTIPLIER: PositiveInt = 2

    # ---- seed section 4.5: timing (relative rates of the local-clock segments) ----------
    TIMING_RATE_MORNING_WARMUP: Rate = 0.6  # before 10:00
    TIMING_RATE_MID_MORNING: Rate = 1.3  # 10:00-12:00
    TIMING_RATE_LUNCH_DIP: Rate = 0.8  # 12:00-13:00
    TIMING_RATE_AFTERNOON_PEAK: Rate = 1.2  # 13:00-15:00
    TIMING_RATE_AFTERNOON_WIND: Rate = 0.7  # 15:00-17:00
    TIMING_RATE_END_OF_DAY: Rate = 0.4  # 17:00 and later
    TIMING_MIN_GAP_MINUTES: float = Field(3.0, ge=0)
    TIMING_JITTER_MINUTES: float = Field(5.0, ge=0)

    # ---- seed section 4.5: burst days ---------------------------------------------------
    BURST_DAY_PROBABILITY: Probability = 0.15
    BURST_DAY_EXTRA_MIN: NonNegInt = 3
    BURST_DAY_EXTRA_MAX: NonNegInt = 5

    # ---- hard caps (the guard enforces them at run time) --------------------------------
    HOURLY_LIMIT: PositiveInt = 6
    DAILY_LIMIT: PositiveInt = 20
    WEEKLY_LIMIT: PositiveInt = 80

    # ---- where and when -----------------------------------------------------------------
    TIMEZONE: str = "UTC"
    OPERATING_START: time = time(9, 0)
    OPERATING_END: time = time(18, 0)
    LATE_TOLERANCE_MINUTES: float = Field(15.0, ge=0)

    # ---- coverage ledger ----------------------------------------------------------------
    UNREACHABLE_AFTER_ATTEMPTS: PositiveInt = 3  # consecutive no_posts / already_reacted
    UNREACHABLE_COOLDOWN_DAYS: float = Field(7.0, ge=0)

    # ---- execution ----------------------------------------------------------------------
    REDIS_URL: str = ""  # empty: start (or reuse) the embedded redis-server
    REDIS_DATA_DIR: Path | None = None  # embedded server's data; default: user state dir
    QUEUE_NAME: str = Field("engagements", pattern=r"^[A-Za-z0-9_.-]+$")
    SCHEDULER_BACKEND: Literal["rq-scheduler", "rq"] = "rq-scheduler"
    HANDLER: HandlerName = "dry-run"
    WEBHOOK_URL: str = ""
    WEBHOOK_SECRET: SecretStr = SecretStr("")
    WEBHOOK_CONNECT_TIMEOUT_S: float = Field(5.0, gt=0)
    WEBHOOK_READ_TIMEOUT_S: float = Field(30.0, gt=0)
    BREAKER_THRESHOLD: PositiveInt = 5
    DRY_RUN_MIX: dict[str, float] = Field(default_factory=dict)  # e.g. {"done": 0.8, "failed": 0.2}
    DRY_RUN_SEED: int | None = None

    # ---- several accounts: per-account overrides (see config/accounts.py) --------------
    ACCOUNTS_FILE: Path | None = None

    # ---- profile source -----------------------------------------------------------------
    PROFILES_PATH: Path | None = None
    SHEET_KEY: str = ""
    SHEET_WORKSHEET: str = ""
    GOOGLE_SERVICE_ACCOUNT_FILE: Path | None = None
    WRITE_BACK: bool = True  # write outcomes back into the profile source (sync, daily tick)

    @field_validator("TIMEZONE")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        if value not in available_timezones() and value != "UTC":
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("HANDLER")
    @classmethod
    def _known_handler(cls, value: str) -> str:
        if value in ("dry-run", "webhook"):
            return value
        if value.startswith("python:") and ":" in value.removeprefix("python:"):
            return value
        raise ValueError(
            f"HANDLER={value!r}: expected 'dry-run', 'webhook' or 'python:package.module:callable'"
        )

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        problems = list(_contradictions(self))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.TIMEZONE)

    @property
    def window_minutes(self) -> float:
        """Length of the operating window on a day without a clock change."""
        start = self.OPERATING_START.hour * 60 + self.OPERATING_START.minute
        end = self.OPERATING_END.hour * 60 + self.OPERATING_END.minute
        return float(end - start)

    @property
    def daily_cap(self) -> int:
        """The most actions a single day may be given by a plan."""
        return min(self.DAILY_BUDGET_MAX, self.DAILY_LIMIT)

    def rate_segments(self) -> list[tuple[int, float]]:
        """(start minute of the local day, relative rate) for each intensity segment."""
        return [
            (0, self.TIMING_RATE_MORNING_WARMUP),
            (10 * 60, self.TIMING_RATE_MID_MORNING),
            (12 * 60, self.TIMING_RATE_LUNCH_DIP),
            (13 * 60, self.TIMING_RATE_AFTERNOON_PEAK),
            (15 * 60, self.TIMING_RATE_AFTERNOON_WIND),
            (17 * 60, self.TIMING_RATE_END_OF_DAY),
        ]


def _contradictions(s: Settings) -> list[str]:
    out: list[str] = []
    if s.DAILY_BUDGET_MIN > s.DAILY_BUDGET_MAX:
        out.append(f"DAILY_BUDGET_MIN={s.DAILY_BUDGET_MIN} > DAILY_BUDGET_MAX={s.DAILY_BUDGET_MAX}")
    if s.DAILY_BUDGET_MAX > s.DAILY_LIMIT:
        out.append(f"DAILY_BUDGET_MAX={s.DAILY_BUDGET_MAX} > DAILY_LIMIT={s.DAILY_LIMIT}")
    if s.WEEKLY_BUDGET_TARGET > s.WEEKLY_LIMIT:
        out.append(f"WEEKLY_BUDGET_TARGET={s.WEEKLY_BUDGET_TARGET} > WEEKLY_LIMIT={s.WEEKLY_LIMIT}")
    if s.DAILY_BUDGET_MIN <= s.DAILY_BUDGET_MAX and not (
        7 * s.DAILY_BUDGET_MIN <= s.WEEKLY_BUDGET_TARGET <= 7 * s.DAILY_BUDGET_MAX
    ):
        out.append(
            f"WEEKLY_BUDGET_TARGET={s.WEEKLY_BUDGET_TARGET} outside "
            f"[7 x DAILY_BUDGET_MIN={7 * s.DAILY_BUDGET_MIN}, "
            f"7 x DAILY_BUDGET_MAX={7 * s.DAILY_BUDGET_MAX}]"
        )
    if s.BURST_DAY_EXTRA_MIN > s.BURST_DAY_EXTRA_MAX:
        out.append(
            f"BURST_DAY_EXTRA_MIN={s.BURST_DAY_EXTRA_MIN} > "
            f"BURST_DAY_EXTRA_MAX={s.BURST_DAY_EXTRA_MAX}"
        )
    if s.FORCE_INCLUDE_DAYS_THRESHOLD >= s.COVERAGE_GUARANTEE_DAYS:
        out.append(
            f"FORCE_INCLUDE_DAYS_THRESHOLD={s.FORCE_INCLUDE_DAYS_THRESHOLD} >= "
            f"COVERAGE_GUARANTEE_DAYS={s.COVERAGE_GUARANTEE_DAYS}"
        )
    if s.OPERATING_START >= s.OPERATING_END:
        out.append(
            f"OPERATING_START={s.OPERATING_START:%H:%M} is not before "
            f"OPERATING_END={s.OPERATING_END:%H:%M}"
        )
    else:
        fits = max_actions_in_window(s.window_minutes, s.TIMING_MIN_GAP_MINUTES, s.HOURLY_LIMIT)
        if fits < s.daily_cap:
            out.append(
                f"operating window {s.OPERATING_START:%H:%M}-{s.OPERATING_END:%H:%M} fits only "
                f"{fits} actions at TIMING_MIN_GAP_MINUTES={s.TIMING_MIN_GAP_MINUTES:g} and "
                f"HOURLY_LIMIT={s.HOURLY_LIMIT}, fewer than "
                f"DAILY_BUDGET_MAX={s.DAILY_BUDGET_MAX}"
            )
    if s.HANDLER == "webhook" and not s.WEBHOOK_URL:
        out.append("HANDLER='webhook' needs WEBHOOK_URL")
    if s.SHEET_KEY and s.PROFILES_PATH:
        out.append(f"SHEET_KEY={s.SHEET_KEY!r} and PROFILES_PATH={s.PROFILES_PATH}: pick one")
    return out


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment plus ``overrides``; raise SettingsError if bad."""
    from pydantic_settings import SettingsError as SourceParseError  # noqa: PLC0415

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from exc
    except SourceParseError as exc:  # e.g. DRY_RUN_MIX=notjson: a complex value is not JSON
        raise SettingsError(f"invalid settings: {exc}") from exc


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem, naming the setting and the value that was refused."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "settings"
        msg = err["msg"].removeprefix("Value error, ")
        if where == "settings":
            lines.append(msg)
        else:
            lines.append(f"{where}={err.get('input')!r}: {msg}")
    return "invalid settings: " + "; ".join(lines)


@lru_cache(maxsize=1)
def _default() -> Settings:
    return load_settings()


def __getattr__(name: str) -> Any:
    """``settings.DAILY_LIMIT``-style access to the process-wide defaults (seed style)."""
    if name.isupper():
        return getattr(_default(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Settings",
    "SettingsError",
    "describe_validation_error",
    "load_settings",
    "max_actions_in_window",
]
