"""Public shapes of clinics, listings and reviews, shared by the CLI's JSON and the HTTP API.

These are not tables (STYLE §5): they are what users' scripts read (DESIGN §3 contracts).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field


class ListingPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    source: str
    last_crawl_at: datetime | None = None
    last_crawl_status: str | None = None
    last_crawl_error: str | None = None


class ClinicPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    listings: list[ListingPublic]


class ClinicCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    urls: list[str] = Field(min_length=1, max_length=50)


class Category(StrEnum):
    """Harmful categories (DESIGN §5); the classifier's ``category`` is one of these or null."""

    defamation = "defamation"
    insult = "insult"
    threat = "threat"
    privacy = "privacy"
    discrimination = "discrimination"


class ReviewPublic(BaseModel):
    """A review with its current classification (DESIGN §3 review fields, plus a few for staff).

    ``label``/``category``/``harmful_probability``/``model_version`` are null and ``flagged`` is
    false while a review has not been classified yet. Times are UTC, ISO 8601 in JSON.
    """

    id: int
    clinic_id: int
    clinic_name: str
    listing_url: str
    external_id: str
    author: str | None
    rating: float | None
    posted_at: datetime | None
    posted_at_raw: str | None
    # False when posted_at was estimated from a relative date such as "2か月前".
    posted_at_exact: bool = True
    first_seen_at: datetime
    removed_at: datetime | None
    text: str
    url: str | None
    label: str | None
    category: str | None
    harmful_probability: float | None
    flagged: bool
    reasons: list[str]
    model_version: str | None


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a keyset-paginated list; pass ``next_cursor`` back to get the next page."""

    items: list[T]
    # Opaque token; null on the last page.
    next_cursor: str | None


class BurstPublic(BaseModel):
    """A burst record (DESIGN §3 burst fields first). Times are UTC, ISO 8601 in JSON.

    ``observed``/``expected`` are review counts for ``volume`` and ``harmful``, mean star ratings
    for ``rating_drop``, and for ``duplicate``/``author`` the clinic's member count and 0/1
    (``details["score_meaning"]`` says what ``score`` is there).
    """

    model_config = ConfigDict(from_attributes=True)

    id: int
    clinic_id: int
    kind: str
    start: datetime
    end: datetime
    observed: float
    expected: float
    score: float
    review_ids: list[int]
    harmful_share: float
    alarm_at: datetime
    details: dict[str, Any]
