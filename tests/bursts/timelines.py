"""Stored review histories for the service, CLI and API tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from models import Clinic
from tests.api.factories import make_clinic
from tests.api.factories import make_review as _make_review

START = datetime(2025, 1, 6, 3, 0, tzinfo=UTC)  # a Monday, noon in Japan
ATTACK = "院長は患者から不正に高額な料金を請求している。受付も最悪、絶対に行くな。"


def make_review(session: Session, listing: object, **kw: object) -> object:
    """A review first seen by a nightly crawl an hour after it was posted."""
    review = _make_review(session, listing, **kw)  # type: ignore[arg-type]
    review.first_seen_at = review.posted_at + timedelta(hours=1)
    return review


def clinic_with_campaign(session: Session, name: str = "さくら内科") -> tuple[Clinic, list[int]]:
    """120 days of one review every other day, then twelve flagged attacks on day 100."""
    clinic = make_clinic(session, name)
    listing = clinic.listings[0]
    for day in range(0, 120, 2):
        make_review(
            session,
            listing,
            text=f"{day}日目:説明が丁寧でした。",
            rating=4.0,
            posted_at=START + timedelta(days=day),
            probability=0.1,
            commit=False,
        )
    attack = [
        make_review(
            session,
            listing,
            text=ATTACK,
            author=None,
            rating=1.0,
            posted_at=START + timedelta(days=100, minutes=5 * k),
            probability=0.9,
            category="defamation",
            commit=False,
        )
        for k in range(12)
    ]
    session.commit()
    return clinic, [r.id for r in attack]


def quiet_clinic(session: Session, name: str = "みどり歯科") -> Clinic:
    clinic = make_clinic(session, name)
    for day in range(0, 120, 10):
        make_review(
            session,
            clinic.listings[0],
            text=f"{day}日目:普通でした。",
            posted_at=START + timedelta(days=day),
            probability=0.1,
            commit=False,
        )
    session.commit()
    return clinic
