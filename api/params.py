"""Request parameters bounded once, for the JSON API and the pages alike.

Hostile input must answer 4xx, never 500 (docs/contracts.md#input-bounds): an id beyond the
INTEGER columns overflows inside the database, a day past 9999-12-30 overflows when the day after
it is computed, and NUL cannot be held by PostgreSQL text. The bounds live in the schemas'
:data:`~kuchikomi.schemas.DbId`, :data:`~kuchikomi.schemas.Day` and
:data:`~kuchikomi.schemas.Text`; this module names the request parameters built on them.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Path

from kuchikomi.schemas import FIRST_DAY, LAST_DAY, MAX_DB_ID, DbId

ReviewIdPath = Annotated[DbId, Path(description="A review id.")]
ClinicIdPath = Annotated[DbId, Path(description="A clinic id.")]

INVALID_CURSOR = "invalid cursor: not a token returned as next_cursor"


def parse_id(value: str) -> int:
    """A positive id typed into a form or a link (``"12"``); ValueError for anything else,
    including ids too large for the database."""
    if not value.isascii() or not value.isdigit() or len(value) > len(str(MAX_DB_ID)):
        raise ValueError(value)
    number = int(value)
    if not 1 <= number <= MAX_DB_ID:
        raise ValueError(value)
    return number


def parse_id_cursor(cursor: str) -> int:
    """The id carried by an id-keyed cursor (the audit log's ``next_cursor``)."""
    try:
        return parse_id(cursor)
    except ValueError:
        raise ValueError(INVALID_CURSOR) from None


def parse_day(value: str | None) -> date | None:
    """``YYYY-MM-DD`` from a date input within the supported range; "" means no bound."""
    if not value:
        return None
    day = date.fromisoformat(value)  # ValueError on anything else
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"{value} is outside {FIRST_DAY}..{LAST_DAY}")
    return day
