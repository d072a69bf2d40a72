"""Which column holds which field: common header spellings, or an explicit mapping.

Headers match case-, space-, underscore-, hyphen- and dot-insensitively, so ``LinkedIn
URL``, ``linkedin_url`` and ``LINKEDIN-URL`` are the same header. An explicit mapping
(field -> header) wins over the spellings below. Columns that match no field are ignored.

Only the URL column is required. Without a date or days column every profile counts as
never engaged as far as the source knows (the ledger may know better): that errs toward
engaging, never toward letting a deadline pass unseen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from planner.sources.errors import ColumnError, SourceError

URL = "linkedin_url"
NAME = "name"
DATE = "last_like_date"
DAYS = "days_since_last_like"
ACTIVE = "active"
OUTCOME = "last_outcome"
FIELDS = (URL, NAME, DATE, DAYS, ACTIVE, OUTCOME)

ColumnMapping = Mapping[str, str]
"""field name (one of FIELDS) -> header text in the source."""

_ALIASES: dict[str, frozenset[str]] = {
    URL: frozenset(
        {"linkedinurl", "linkedin", "url", "profileurl", "linkedinprofile", "linkedinprofileurl"}
    ),
    NAME: frozenset({"name", "fullname", "profilename", "displayname"}),
    DATE: frozenset(
        {
            "lastlikedate",
            "lastlike",
            "lastliked",
            "lastlikedat",
            "lastlikeddate",
            "lastengaged",
            "lastengagedat",
            "lastengageddate",
            "lastengagement",
            "lastengagementdate",
        }
    ),
    DAYS: frozenset(
        {
            "dayssincelastlike",
            "dayssincelastliked",
            "dayssince",
            "dayssincelastengaged",
            "dayssincelastengagement",
            "days",
        }
    ),
    ACTIVE: frozenset({"active", "enabled", "isactive"}),
    OUTCOME: frozenset({"lastoutcome", "outcome", "laststatus", "lastresult"}),
}


def normalise_header(header: str) -> str:
    """``' LinkedIn_URL '`` -> ``'linkedinurl'`` (a stray BOM or NBSP is dropped too)."""
    text = header.replace("\ufeff", "").casefold()
    return "".join(ch for ch in text if ch.isalnum())


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Resolved columns: field -> index into the header row."""

    headers: tuple[str, ...]
    index: Mapping[str, int]

    def get(self, field: str) -> int | None:
        return self.index.get(field)

    def header(self, field: str) -> str:
        """The header as the source spells it; the field name if the column is absent."""
        idx = self.index.get(field)
        return field if idx is None else self.headers[idx]


def resolve_columns(headers: Sequence[str], explicit: ColumnMapping | None = None) -> ColumnMap:
    """Map fields to columns; raise ColumnError if the URL column is missing or ambiguous."""
    explicit = dict(explicit or {})
    unknown = sorted(set(explicit) - set(FIELDS))
    if unknown:
        raise SourceError(
            f"unknown field(s) in the column mapping: {', '.join(unknown)}; "
            f"known fields: {', '.join(FIELDS)}"
        )
    normalised = [normalise_header(h) for h in headers]
    index: dict[str, int] = {}
    for field, wanted in explicit.items():
        hits = [i for i, n in enumerate(normalised) if n == normalise_header(wanted)]
        if not hits:
            raise ColumnError(
                f"column {wanted!r} (mapped to {field}) not found; headers are: "
                + _listing(headers),
                missing=[wanted],
                headers=headers,
            )
        index[field] = hits[0]
    claimed = set(index.values())
    for field in FIELDS:
        if field in index:
            continue
        hits = [i for i, n in enumerate(normalised) if n in _ALIASES[field] and i not in claimed]
        if len(hits) > 1:
            names = " and ".join(repr(headers[i]) for i in hits)
            raise ColumnError(
                f"columns {names} could both be {field}; map one explicitly",
                missing=[],
                headers=headers,
            )
        if hits:
            index[field] = hits[0]
            claimed.add(hits[0])
    if URL not in index:
        raise ColumnError(
            "no profile URL column; accepted headers: linkedin_url, LinkedIn URL, url, "
            f"profile_url (or map one explicitly); headers are: {_listing(headers)}",
            missing=[URL],
            headers=headers,
        )
    return ColumnMap(headers=tuple(headers), index=index)


def _listing(headers: Sequence[str]) -> str:
    return ", ".join(repr(h) for h in headers) if headers else "(none)"
