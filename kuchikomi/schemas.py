"""Public shapes of clinics, listings and reviews, shared by the CLI's JSON and the HTTP API.

These are not tables: they are what users' scripts read (docs/contracts.md).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from models.text import StorableStr, has_unstorable

# --- Input bounds shared by every schema, router and page (docs/contracts.md#input-bounds) ------

# Every id column is an INTEGER, 32 bits on PostgreSQL (SQLite's drivers stop at 64): a larger
# number in a path, a query string, a cursor or a body would overflow inside the database (a
# 500 there), so it is refused up front, with the same bound on both backends.
MAX_DB_ID = 2**31 - 1
DbId = Annotated[int, Field(ge=1, le=MAX_DB_ID)]

# Days a filter or a case step may name: the range review dates are accepted in (imports refuse
# dates outside it), so that day arithmetic (the day after ``posted_to``) cannot overflow.
FIRST_DAY = date(1990, 1, 1)
LAST_DAY = date(2100, 12, 31)
Day = Annotated[date, Field(ge=FIRST_DAY, le=LAST_DAY)]


# Free text from a request that may be stored or compared in SQL: NUL dropped, lone surrogates
# replaced (models.text, the one normalisation boundary for crawls, imports and request bodies).
Text = StorableStr


def _refuse_unstorable(value: str) -> str:
    if has_unstorable(value):
        raise ValueError("must not contain NUL (U+0000) or unpaired surrogates (U+D800-U+DFFF)")
    return value


# A filter value (query string): nothing is stored, so text that cannot match anything stored
# is refused (422) rather than silently changed into another filter.
FilterText = Annotated[str, AfterValidator(_refuse_unstorable)]


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


class GoogleLocationCreate(BaseModel):
    """A Google Business Profile location (see `kuchikomi google locations`) and its connection."""

    location: Text = Field(max_length=255, examples=["accounts/123/locations/456"])
    connection_id: DbId


class ClinicCreate(BaseModel):
    name: Text = Field(min_length=1, max_length=200)
    urls: list[Text] = Field(default_factory=list, max_length=50)
    google_locations: list[GoogleLocationCreate] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _some_listing(self) -> ClinicCreate:
        if not self.urls and not self.google_locations:
            raise ValueError("give at least one listing URL or Google location")
        return self


class Category(StrEnum):
    """Harmful categories (docs/domain.md); the classifier's ``category`` is one of them or null."""

    defamation = "defamation"
    insult = "insult"
    threat = "threat"
    privacy = "privacy"
    discrimination = "discrimination"


class ReviewPublic(BaseModel):
    """A review with its current classification (docs/contracts.md fields, and a few for staff).

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
    # The latest staff decision ("harmful" | "criticism" | "unsure"), null while undecided.
    decision: str | None = None
    # The text was rewritten on the site after that decision, which judged an earlier wording.
    edited_after_decision: bool = False


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a keyset-paginated list; pass ``next_cursor`` back to get the next page."""

    items: list[T]
    # Opaque token; null on the last page.
    next_cursor: str | None


class BurstPublic(BaseModel):
    """A burst record (docs/contracts.md burst fields first). Times are UTC, ISO 8601 in JSON.

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


# --- Staff workflow: decisions, review detail, audit log ------------------------------------------

NOTE_MAX_LENGTH = 2000


class DecisionValue(StrEnum):
    """A person's decision on a review (docs/contracts.md)."""

    harmful = "harmful"
    criticism = "criticism"
    unsure = "unsure"


class DecisionStatus(StrEnum):
    """Queue filter on the latest decision: none yet, or the latest one's value."""

    undecided = "undecided"
    harmful = "harmful"
    criticism = "criticism"
    unsure = "unsure"


class DecisionCreate(BaseModel):
    """``harmful`` needs the confirmed or corrected category; the other two take none."""

    model_config = ConfigDict(extra="forbid")

    decision: DecisionValue
    category: Category | None = None
    note: Text = Field(default="", max_length=NOTE_MAX_LENGTH)

    @model_validator(mode="after")
    def _category_fits_decision(self) -> DecisionCreate:
        if self.decision is DecisionValue.harmful and self.category is None:
            raise ValueError("a harmful decision needs its category")
        if self.decision is not DecisionValue.harmful and self.category is not None:
            raise ValueError("only a harmful decision takes a category")
        return self


class DecisionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    review_id: int
    decision: str
    category: str | None
    note: str
    # The deciding user's e-mail (null if that account was deleted).
    decided_by: str | None
    created_at: datetime


class SightingPublic(BaseModel):
    """One archived capture of the page the review was seen on (the review's history)."""

    evidence_id: int
    url: str
    fetched_at: datetime
    status_code: int
    payload_sha256: str


class ReviewBurstPublic(BaseModel):
    """A burst the review belongs to (see ``GET /api/v1/bursts``)."""

    id: int
    kind: str
    start: datetime
    end: datetime
    observed: float
    expected: float
    score: float


class RevisionPublic(BaseModel):
    """An earlier wording of the review, replaced on the site at ``replaced_at``."""

    model_config = ConfigDict(from_attributes=True)

    author: str | None
    rating: float | None
    text: str
    replaced_at: datetime


class ReviewDetail(ReviewPublic):
    """One review with its decisions, bursts, captures and earlier wordings (all oldest first)."""

    decisions: list[DecisionPublic] = Field(default_factory=list)
    bursts: list[ReviewBurstPublic] = Field(default_factory=list)
    sightings: list[SightingPublic] = Field(default_factory=list)
    revisions: list[RevisionPublic] = Field(default_factory=list)


class AuditEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    user_id: int | None
    actor: str
    action: str
    object_type: str
    object_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
