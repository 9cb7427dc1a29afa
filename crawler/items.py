"""What the spiders hand to the pipelines: plain dataclasses (Scrapy reads them via itemadapter)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime


def hash_parts(*parts: str) -> str:
    """SHA-256 (hex) of the parts joined by the unit separator, which cannot occur in normalised
    text, so ("a", "bc") ≠ ("ab", "c")."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def review_content_hash(*, author: str | None, rating: float | None, text: str) -> str:
    """What a reader sees of a review (author, rating, text), hashed: a crawled review and an
    imported one get the same hash for the same content, and an edit gets a new one (stored as
    a revision). The one recipe for both (crawler/extract.py, kuchikomi/services/importer.py)."""
    return hash_parts(author or "", "" if rating is None else f"{rating:g}", text)


@dataclass
class ReviewItem:
    """One review as published, normalised, with the stable id it is stored under."""

    external_id: str
    author: str | None
    rating: float | None  # on a 1–5 scale whatever scale the site uses
    text: str
    posted_at: datetime | None
    posted_at_raw: str | None  # the date exactly as printed, for evidence
    posted_at_exact: bool
    url: str | None
    # review_content_hash(): tells an edited review apart.
    content_hash: str


@dataclass(eq=False)
class EvidenceRef:
    """An EvidenceRecord queued for the database (crawler/batch.py): ``id`` is set once stored."""

    id: int | None = None


@dataclass
class ReviewPageItem:
    """Every review on one fetched page, stored together in one transaction."""

    listing_id: int
    page_url: str
    page_number: int
    # The archived response (EvidenceRecord) the reviews were read from: its id, or a reference
    # to it while it waits to be stored with the page.
    evidence_id: int | EvidenceRef | None
    reviews: list[ReviewItem] = field(default_factory=list)
    # Ids of already-stored reviews this page shows only as links (reviews on their own pages
    # are not fetched again): their sighting on this page is what proves they are still online.
    sighted_ids: list[str] = field(default_factory=list)
    # False for a review's own page: the run counts listing pages, not one page per review.
    list_page: bool = True
