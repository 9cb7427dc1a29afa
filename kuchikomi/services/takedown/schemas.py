"""The shapes of a takedown draft, shared by drafting, rendering, the case service and the API.

Only data and validation here: :mod:`kuchikomi.services.cases` and :mod:`.drafting` both import
these types, and neither imports the other's callers (no import cycle).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kuchikomi.schemas import Text
from models.cases import TakedownCase

# Longest value accepted per edited field (characters): a form page, not a document store.
FIELD_MAX_CHARS: dict[str, int] = {
    "provider": 200,
    "location": 2048,
    "information": 20_000,
    "rights": 500,
    "reason": 10_000,
    "requester_address": 300,
    "requester_name": 200,
    "requester_contact": 300,
}
TEXT_FIELDS = tuple(FIELD_MAX_CHARS)


class DraftFields(BaseModel):
    """The fields of the request form, as they will be printed."""

    provider: str
    location: str
    information: str
    rights: str
    reason: str
    requester_address: str = ""
    requester_name: str = ""
    requester_contact: str = ""
    # テレサ書式: a ○ means the requester agrees that their name is shown to the poster.
    disclose_name: bool = False


class DraftEdit(BaseModel):
    """Staff edits of a draft: only the fields given change; an empty string clears a field
    back to empty (the requester's details) — send ``null`` or omit a field to keep it."""

    model_config = ConfigDict(extra="forbid")

    provider: Text | None = Field(default=None, max_length=FIELD_MAX_CHARS["provider"])
    location: Text | None = Field(default=None, max_length=FIELD_MAX_CHARS["location"])
    information: Text | None = Field(default=None, max_length=FIELD_MAX_CHARS["information"])
    rights: Text | None = Field(default=None, max_length=FIELD_MAX_CHARS["rights"])
    reason: Text | None = Field(default=None, max_length=FIELD_MAX_CHARS["reason"])
    requester_address: Text | None = Field(
        default=None, max_length=FIELD_MAX_CHARS["requester_address"]
    )
    requester_name: Text | None = Field(default=None, max_length=FIELD_MAX_CHARS["requester_name"])
    requester_contact: Text | None = Field(
        default=None, max_length=FIELD_MAX_CHARS["requester_contact"]
    )
    disclose_name: bool | None = None

    def changes(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class RoutePublic(BaseModel):
    """A place to take the request or to ask for advice."""

    key: str
    name: str
    description: str
    url: str | None = None


class CaseBrief(BaseModel):
    status: str
    sent_via: str | None
    sent_on: date | None
    resolved_on: date | None
    removal_confirmed_at: datetime | None
    note: str | None
    updated_at: datetime


class TakedownDraft(BaseModel):
    """A request draft for one review: the form fields plus what staff need around them."""

    review_id: int
    clinic_id: int
    clinic_name: str
    site: str
    # The confirmed category when staff decided "harmful", else the classifier's suggestion.
    category: str | None
    category_ja: str | None
    category_confirmed: bool
    fields: DraftFields
    # Fields that hold staff edits rather than the prefilled text.
    edited: list[str]
    routes: list[RoutePublic]
    case: CaseBrief | None
    review_removed_at: datetime | None
    warnings: list[str]


def case_brief(case: TakedownCase) -> CaseBrief:
    return CaseBrief(
        status=case.status,
        sent_via=case.sent_via,
        sent_on=case.sent_on,
        resolved_on=case.resolved_on,
        removal_confirmed_at=case.removal_confirmed_at,
        note=case.note,
        updated_at=case.updated_at,
    )
