"""Several accounts: per-account overrides of the settings, from a TOML accounts file.

```toml
# accounts.toml (ACCOUNTS_FILE=accounts.toml)
[accounts.alice]
TIMEZONE = "Europe/Berlin"
PROFILES_PATH = "profiles/alice.csv"

[accounts.bob]
TIMEZONE = "America/New_York"
OPERATING_START = "08:30"
HOURLY_LIMIT = 4
HANDLER = "webhook"
WEBHOOK_URL = "https://n8n.example.internal/webhook/bob"
```

Any setting may be overridden per account; the result is validated as a whole, so a
contradiction is refused naming the account, the file and both values. Accounts not in the
file use the base settings.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from config.settings import Settings, SettingsError, describe_validation_error

ACCOUNT_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Where data lives is a deployment decision, not an account's.
NOT_PER_ACCOUNT = frozenset({"REDIS_URL", "REDIS_DATA_DIR", "QUEUE_NAME", "ACCOUNTS_FILE"})


def load_accounts(path: Path) -> dict[str, dict[str, Any]]:
    """The ``[accounts.NAME]`` tables of ``path``; SettingsError naming what is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"ACCOUNTS_FILE={path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"ACCOUNTS_FILE={path}: unreadable: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"ACCOUNTS_FILE={path}: not valid TOML: {exc}") from exc
    unknown = set(data) - {"accounts"}
    if unknown:
        raise SettingsError(f"ACCOUNTS_FILE={path}: unknown top-level keys {sorted(unknown)}")
    accounts = data.get("accounts", {})
    if not isinstance(accounts, dict):
        raise SettingsError(f"ACCOUNTS_FILE={path}: [accounts] must be a table")
    for name, overrides in accounts.items():
        if not ACCOUNT_RE.fullmatch(name):
            raise SettingsError(
                f"ACCOUNTS_FILE={path}: account name {name!r} must match {ACCOUNT_RE.pattern}"
            )
        if not isinstance(overrides, dict):
            raise SettingsError(f"ACCOUNTS_FILE={path}: [accounts.{name}] must be a table")
        fixed = NOT_PER_ACCOUNT & set(overrides)
        if fixed:
            raise SettingsError(
                f"ACCOUNTS_FILE={path}: [accounts.{name}] sets {sorted(fixed)}, which apply to "
                "the whole deployment, not one account"
            )
        unknown_keys = set(overrides) - set(Settings.model_fields)
        if unknown_keys:
            raise SettingsError(
                f"ACCOUNTS_FILE={path}: [accounts.{name}] has unknown settings "
                f"{sorted(unknown_keys)}"
            )
    return accounts


def settings_for(base: Settings, account: str) -> Settings:
    """``base`` with the overrides of ``account`` from ACCOUNTS_FILE, validated together."""
    if base.ACCOUNTS_FILE is None:
        return base
    overrides = load_accounts(base.ACCOUNTS_FILE).get(account)
    if not overrides:
        return base
    merged = base.model_dump() | overrides
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        detail = describe_validation_error(exc).removeprefix("invalid settings: ")
        raise SettingsError(
            f"invalid settings for account {account!r} in {base.ACCOUNTS_FILE}: {detail}"
        ) from exc


def account_names(base: Settings) -> list[str]:
    """Accounts the file names (empty without ACCOUNTS_FILE)."""
    if base.ACCOUNTS_FILE is None:
        return []
    return sorted(load_accounts(base.ACCOUNTS_FILE))
