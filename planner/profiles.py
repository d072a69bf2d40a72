"""Profiles as the planner sees them, and the identity rule for profile URLs."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, field_validator


class Profile(BaseModel):
    """One profile to keep in touch with.

    ``last_engaged_at`` is what the source says (its "last like date", or now minus its
    "days since"); the coverage ledger may know of a later success.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    linkedin_url: str
    name: str
    last_engaged_at: datetime | None = None
    active: bool = True
    row: int | None = None  # where the source had it (spreadsheet numbering), for reports

    @field_validator("last_engaged_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("last_engaged_at must carry a UTC offset")
        return None if value is None else value.astimezone(UTC)

    @property
    def key(self) -> str:
        return profile_key(self.linkedin_url)


# The usual shape of a profile URL: https, a plain host name (no port, user or brackets) and
# a path with no trailing slash, query or fragment. Its key needs no ``urlsplit``; planning
# asks every profile for its key on every pass, so this path and the cache matter.
_PLAIN = re.compile(r"https://([A-Za-z0-9.-]+)(/[^?#\s]*[^/?#\s])?")


@lru_cache(maxsize=1 << 16)
def profile_key(url: str) -> str:
    """Normalised identity of a profile URL.

    Scheme and host case, ``www.``, a trailing slash, the query string and the fragment do
    not make a different profile: ``HTTP://LinkedIn.com/in/ada/?x=1#top`` and
    ``https://www.linkedin.com/in/ada`` are the same person.
    """
    plain = _PLAIN.fullmatch(url)
    if plain:
        host = plain[1].lower().removeprefix("www.")
        if host:
            return f"https://{host}{plain[2] or ''}"
    return _normalise(url)


def _normalise(url: str) -> str:
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().removeprefix("www.")
    if parts.port:
        host = f"{host}:{parts.port}"
    path = parts.path.rstrip("/")
    return urlunsplit(("https", host, path, "", ""))
