"""Small factories that build real rows through the ORM and commit them (the app reads them
through its own sessions)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from models import Classification, Clinic, Listing, Review

_seq = itertools.count(1)


def make_clinic(session: Session, name: str = "さくら内科クリニック", listings: int = 1) -> Clinic:
    n = next(_seq)
    clinic = Clinic(name=name)
    clinic.listings = [
        Listing(url=f"https://reviews.example.jp/clinic/{n}-{i}", source="schema_org")
        for i in range(listings)
    ]
    session.add(clinic)
    session.commit()
    return clinic


def make_review(
    session: Session,
    listing: Listing,
    *,
    text: str = "待ち時間が長かったです。",
    author: str | None = "匿名",
    posted_at: datetime | None = datetime(2025, 3, 4, 1, 30, tzinfo=UTC),
    posted_at_raw: str | None = None,
    posted_at_exact: bool = True,
    url: str | None = None,
    rating: float | None = 2.0,
    removed_at: datetime | None = None,
    probability: float | None = None,
    flagged: bool | None = None,
    label: str | None = None,
    category: str | None = None,
    reasons: list[str] | None = None,
    commit: bool = True,
) -> Review:
    """A review; with ``probability`` given it also gets a classification.

    ``flagged`` defaults to ``probability >= 0.5`` and ``label`` to harmful/criticism accordingly.
    """
    n = next(_seq)
    review = Review(
        listing_id=listing.id,
        external_id=f"ext-{n}",
        author=author,
        rating=rating,
        posted_at=posted_at,
        posted_at_raw=posted_at_raw or (f"{posted_at:%Y年%m月%d日}投稿" if posted_at else None),
        posted_at_exact=posted_at_exact,
        first_seen_at=datetime(2025, 3, 5, tzinfo=UTC) + timedelta(seconds=n),
        removed_at=removed_at,
        text=text,
        url=url if url is not None else f"{listing.url}#review-{n}",
        content_hash=f"{n:064d}",
    )
    if probability is not None:
        is_flagged = probability >= 0.5 if flagged is None else flagged
        review.classification = Classification(
            model_version="test-model-1",
            label=label or ("harmful" if is_flagged else "criticism"),
            category=category,
            harmful_probability=probability,
            flagged=is_flagged,
            reasons=reasons if reasons is not None else [],
        )
    session.add(review)
    if commit:
        session.commit()
    return review
