"""Several accounts: per-account settings from a TOML file, and status over all of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from config.accounts import account_names, settings_for
from config.settings import Settings, SettingsError
from planner.cli.app import _register, app

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "profiles.csv"

ACCOUNTS = """
[accounts.alice]
TIMEZONE = "Europe/Berlin"

[accounts.bob]
TIMEZONE = "America/New_York"
OPERATING_START = "08:30"
HOURLY_LIMIT = 4
"""


def base(tmp_path: Path, text: str = ACCOUNTS) -> Settings:
    path = tmp_path / "accounts.toml"
    path.write_text(text, encoding="utf-8")
    return Settings(_env_file=None, ACCOUNTS_FILE=path)  # type: ignore[call-arg]


def test_overrides_apply_per_account(tmp_path: Path) -> None:
    """Each account gets its own overrides; others keep the base settings."""
    settings = base(tmp_path)
    assert settings_for(settings, "alice").TIMEZONE == "Europe/Berlin"
    bob = settings_for(settings, "bob")
    assert (bob.TIMEZONE, bob.HOURLY_LIMIT, f"{bob.OPERATING_START:%H:%M}") == (
        "America/New_York",
        4,
        "08:30",
    )
    assert settings_for(settings, "carol") is settings
    assert account_names(settings) == ["alice", "bob"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[accounts.x]\nDAILY_BUDGET_MAX = 30\n", "account 'x'"),
        ("[accounts.x]\nDAILY_BUDGET_MAX = 30\n", "DAILY_LIMIT=20"),
        ("[accounts.x]\nNOT_A_SETTING = 1\n", "NOT_A_SETTING"),
        ("[accounts.x]\nREDIS_URL = 'redis://elsewhere'\n", "whole deployment"),
        ("[accounts.'bad:name']\nHOURLY_LIMIT = 1\n", "bad:name"),
        ("[accounts.x\nHOURLY_LIMIT = 1\n", "not valid TOML"),
        ("[other]\n", "unknown top-level"),
        ("[accounts.x]\nTIMEZONE = 'Mars/Base'\n", "Mars/Base"),
    ],
)
def test_bad_accounts_files_are_refused(tmp_path: Path, text: str, fragment: str) -> None:
    """A bad accounts file is refused with the file, the account and the problem named."""
    settings = base(tmp_path, text)
    with pytest.raises(SettingsError, match=fragment.replace("(", r"\(")):
        settings_for(settings, "x")
        account_names(settings)


def test_status_without_account_summarises_all(tmp_path: Path, redis_url: str) -> None:
    """`status` with no --account covers every account of the file, each with its zone."""
    _register()
    runner = CliRunner()
    path = tmp_path / "accounts.toml"
    path.write_text(ACCOUNTS, encoding="utf-8")
    env = {"REDIS_URL": redis_url, "ACCOUNTS_FILE": str(path)}
    for name in ("alice", "bob"):
        result = runner.invoke(
            app, ["generate-week", "--account", name, "--profiles", str(EXAMPLES)], env=env
        )
        assert result.exit_code == 0, result.output
    shown = runner.invoke(app, ["show-plan", "--account", "bob", "--json"], env=env)
    assert json.loads(shown.output)["timezone"] == "America/New_York"
    result = runner.invoke(app, ["status", "--json"], env=env)
    data = json.loads(result.output)
    assert [a["account"] for a in data["accounts"]] == ["alice", "bob"]
    assert result.exit_code == (0 if data["healthy"] else 1)


def test_generate_week_uses_the_accounts_own_settings(tmp_path: Path, redis_url: str) -> None:
    """`generate-week --account` plans with that account's time zone and profile CSV."""
    _register()
    csv = tmp_path / "tokyo.csv"
    csv.write_text(
        "linkedin_url,name\n"
        + "".join(f"https://www.linkedin.com/in/tokyo-{i},T{i}\n" for i in range(30)),
        encoding="utf-8",
    )
    path = tmp_path / "accounts.toml"
    path.write_text(
        f'[accounts.tokyo]\nTIMEZONE = "Asia/Tokyo"\nPROFILES_PATH = "{csv}"\n', encoding="utf-8"
    )
    env = {"REDIS_URL": redis_url, "ACCOUNTS_FILE": str(path)}
    args = ["generate-week", "--account", "tokyo", "--dry-run", "--json", "--week", "next"]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    urls = {e["linkedin_url"] for d in plan["days"].values() for e in d["engagements"]} - {""}
    assert plan["timezone"] == "Asia/Tokyo"
    assert urls and all("/in/tokyo-" in u for u in urls)


def test_error_messages_keep_bracketed_names(tmp_path: Path, redis_url: str) -> None:
    """A message naming [accounts.x] is printed literally (not eaten as markup), exit 2."""
    _register()
    path = tmp_path / "accounts.toml"
    path.write_text("[accounts.x]\nHOURLY_LIMT = 1\n", encoding="utf-8")
    env = {"REDIS_URL": redis_url, "ACCOUNTS_FILE": str(path)}
    result = CliRunner().invoke(app, ["status", "--account", "x"], env=env)
    assert result.exit_code == 2
    assert "[accounts.x] has unknown settings ['HOURLY_LIMT']" in result.output


def test_a_complex_setting_that_is_not_json_is_refused(redis_url: str) -> None:
    """DRY_RUN_MIX=notjson is a one-line settings error with exit 2, not a traceback."""
    _register()
    env = {"REDIS_URL": redis_url, "DRY_RUN_MIX": "notjson"}
    result = CliRunner().invoke(app, ["status"], env=env)
    assert result.exit_code == 2
    assert "DRY_RUN_MIX" in result.output and "Traceback" not in result.output
