"""One content-hash recipe (crawler/items.py ``review_content_hash``): a review crawled from a page
and the same review imported from a file get the same hash, so an import followed by a crawl
(or the reverse) records no false edit."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from crawler.extract import extract_page
from crawler.items import review_content_hash
from crawler.sites import SCHEMA_ORG
from kuchikomi.services.importer import ImportFormat, import_reviews
from models import Review
from tests.api.factories import make_clinic

AUTHOR, RATING, TEXT = "鈴木", 2.0, "院長の説明が雑で、二度と行きません。"


def _crawled_hash(listing_url: str) -> str:
    review = {
        "@type": "Review",
        "reviewBody": TEXT,
        "author": AUTHOR,
        "reviewRating": {"ratingValue": "2", "bestRating": "5"},
        "datePublished": "2025-01-02",
    }
    html = (
        '<script type="application/ld+json">'
        + json.dumps({"@context": "https://schema.org", "@type": "Dentist", "review": [review]})
        + "</script>"
    )
    page = extract_page(
        html,
        page_url=listing_url,
        listing_url=listing_url,
        site=SCHEMA_ORG,
        now=datetime(2025, 6, 1, tzinfo=UTC),
    )
    (item,) = page.reviews
    return item.content_hash


def test_crawler_and_importer_hash_the_same_review_alike(session: Session, env: Path) -> None:
    clinic = make_clinic(session, "さくら歯科")
    listing_url = clinic.listings[0].url
    line = {
        "listing_url": listing_url,
        "external_id": "imported-1",
        "author": AUTHOR,
        "rating": RATING,
        "text": TEXT,
        "posted_at": "2025-01-02T00:00:00+09:00",
    }
    result = import_reviews(
        session=session, data=json.dumps(line).encode(), format=ImportFormat.jsonl
    )
    session.commit()
    assert result.problems == [], result.problems
    imported = session.scalars(select(Review.content_hash)).one()

    expected = review_content_hash(author=AUTHOR, rating=RATING, text=TEXT)
    assert _crawled_hash(listing_url) == imported == expected
    # The hash follows what a reader sees: another rating is another hash.
    assert review_content_hash(author=AUTHOR, rating=3.0, text=TEXT) != expected
