"""Rows the takedown/evidence/deadline tests build: staff decisions and a harmful review."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import AuditEntry, Clinic, Decision, Review, TakedownCase
from tests.api.factories import make_clinic, make_review

SCRIPT_TEXT = "院長は不正請求をしているらしい。<script>alert(1)</script> & <b>太字</b>"
REASONS = [
    "具体的な犯罪・不正行為の断定（不正請求）",
    "伝聞による事実の摘示（らしい）",
    "強く寄与した語: 不正請求、院長",
]


def decide(
    session: Session, review: Review, decision: str = "harmful", category: str | None = None
) -> Decision:
    row = Decision(review_id=review.id, decision=decision, category=category, note="")
    session.add(row)
    session.commit()
    return row


def harmful_review(
    session: Session,
    clinic: Clinic | None = None,
    *,
    text: str = SCRIPT_TEXT,
    category: str | None = "defamation",
    url: str | None = None,
    posted_at: datetime | None = datetime(2025, 3, 4, 1, 30, tzinfo=UTC),
    confirmed: bool = True,
) -> Review:
    """A flagged review (classifier: ``category``) with, when ``confirmed``, a harmful decision."""
    clinic = clinic or make_clinic(session)
    review = make_review(
        session,
        clinic.listings[0],
        text=text,
        author="通りすがり",
        probability=0.93,
        category=category,
        reasons=list(REASONS),
        url=url,
        posted_at=posted_at,
    )
    if confirmed:
        decide(session, review, "harmful", category)
    return review


def case_of(session: Session, review_id: int) -> TakedownCase | None:
    session.expire_all()
    return session.scalars(
        select(TakedownCase).where(TakedownCase.review_id == review_id)
    ).one_or_none()


def case_audit(session: Session) -> list[AuditEntry]:
    session.expire_all()
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.object_type == "takedown_case")
            .order_by(AuditEntry.id)
        )
    )
