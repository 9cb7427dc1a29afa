"""Staff decisions on reviews, and what the review page shows around them.

A decision is ``harmful`` (with the confirmed or corrected category), ``criticism`` or ``unsure``
and a note. Decisions are only ever added: the latest one per review is current, the earlier
ones are its history, and each is written to the audit log with the state before and after in the
same transaction. The system itself never acts on a decision (docs/domain.md): it is what a person
concluded, and the training signal of ``kuchikomi model train``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kuchikomi.schemas import (
    DecisionCreate,
    DecisionPublic,
    ReviewBurstPublic,
    ReviewDetail,
    RevisionPublic,
    SightingPublic,
)
from kuchikomi.services.audit import record_audit
from kuchikomi.services.bursts import list_burst_records
from kuchikomi.services.reviews import visible_review_public
from kuchikomi.services.visibility import visible_review
from models import (
    BurstReview,
    Decision,
    EvidenceRecord,
    ReviewSighting,
    User,
)
from models.tables import ReviewRevision


def decision_public(decision: Decision) -> DecisionPublic:
    return DecisionPublic(
        id=decision.id,
        review_id=decision.review_id,
        decision=decision.decision,
        category=decision.category,
        note=decision.note,
        decided_by=decision.user.email if decision.user is not None else None,
        created_at=decision.created_at,
    )


def _state(decision: Decision | None) -> dict[str, Any] | None:
    if decision is None:
        return None
    return {
        "decision_id": decision.id,
        "decision": decision.decision,
        "category": decision.category,
        "note": decision.note,
    }


def latest_decision(*, session: Session, review_id: int) -> Decision | None:
    return session.scalar(
        select(Decision).where(Decision.review_id == review_id).order_by(Decision.id.desc())
    )


def record_decision(
    *,
    session: Session,
    review_id: int,
    body: DecisionCreate,
    user: User,
    clinic_ids: Sequence[int] | None = None,
) -> Decision:
    """Add a decision and its audit entry (flushed; the caller commits both or neither).

    Raises :class:`~kuchikomi.errors.ReviewNotFound` for a review that does not exist or lies
    outside ``clinic_ids`` (None = every clinic).
    """
    review = visible_review(session=session, review_id=review_id, clinic_ids=clinic_ids)
    before = latest_decision(session=session, review_id=review.id)
    decision = Decision(
        review_id=review.id,
        user_id=user.id,
        decision=body.decision.value,
        category=body.category.value if body.category is not None else None,
        note=body.note,
    )
    session.add(decision)
    session.flush()
    record_audit(
        session=session,
        user=user,
        action="decision.create",
        object_type="review",
        object_id=review.id,
        before=_state(before),
        after=_state(decision),
    )
    return decision


def review_detail(
    *, session: Session, review_id: int, clinic_ids: Sequence[int] | None = None
) -> ReviewDetail:
    """The review with its decisions, bursts and captures; :class:`ReviewNotFound` if the caller
    may not see it."""
    review = visible_review_public(session=session, review_id=review_id, clinic_ids=clinic_ids)
    decisions = session.scalars(
        select(Decision).where(Decision.review_id == review_id).order_by(Decision.id)
    ).all()
    sightings = session.execute(
        select(EvidenceRecord)
        .join(ReviewSighting, ReviewSighting.evidence_id == EvidenceRecord.id)
        .where(ReviewSighting.review_id == review_id)
        .order_by(EvidenceRecord.fetched_at, EvidenceRecord.id)
    ).scalars()
    return ReviewDetail(
        **review.model_dump(exclude={"decision"}),
        decision=decisions[-1].decision if decisions else None,
        decisions=[decision_public(d) for d in decisions],
        bursts=_bursts_of(session, review_id),
        revisions=[
            RevisionPublic.model_validate(r)
            for r in session.scalars(
                select(ReviewRevision)
                .where(ReviewRevision.review_id == review_id)
                .order_by(ReviewRevision.replaced_at, ReviewRevision.id)
            )
        ],
        sightings=[
            SightingPublic(
                evidence_id=e.id,
                url=e.url,
                fetched_at=e.fetched_at,
                status_code=e.status_code,
                payload_sha256=e.payload_sha256,
            )
            for e in sightings
        ],
    )


def _bursts_of(session: Session, review_id: int) -> list[ReviewBurstPublic]:
    burst_ids = session.scalars(
        select(BurstReview.burst_id).where(BurstReview.review_id == review_id)
    ).all()
    records = list_burst_records(session=session, burst_ids=burst_ids)
    shown = set(ReviewBurstPublic.model_fields)
    return [
        ReviewBurstPublic.model_validate(r.model_dump(include=shown))
        for r in sorted(records, key=lambda r: (r.start, r.id))
    ]
