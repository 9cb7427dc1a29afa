"""Deciding a burst or a near-duplicate cluster at once: one staff action, one decision per
review.

A campaign of twenty near-identical posts is one judgement for a person, but the record stays
per review: each member gets its own decision and its own audit entry through
:func:`kuchikomi.services.decisions.record_decision`, exactly as if decided one by one, all in
one transaction (all recorded or none).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kuchikomi.schemas import DecisionCreate
from kuchikomi.services.decisions import record_decision
from models import Burst, BurstReview, Listing, Review, User


@dataclass(frozen=True)
class BurstRef:
    """A burst a review belongs to, as the queue shows it."""

    id: int
    kind: str
    members: int


def bursts_of_reviews(*, session: Session, review_ids: Sequence[int]) -> dict[int, list[BurstRef]]:
    """``{review_id: [bursts it belongs to]}`` for those of ``review_ids`` in any burst."""
    if not review_ids:
        return {}
    sizes = (
        select(BurstReview.burst_id, func.count().label("members"))
        .group_by(BurstReview.burst_id)
        .subquery()
    )
    rows = session.execute(
        select(BurstReview.review_id, Burst.id, Burst.kind, sizes.c.members)
        .join(Burst, Burst.id == BurstReview.burst_id)
        .join(sizes, sizes.c.burst_id == Burst.id)
        .where(BurstReview.review_id.in_(list(review_ids)))
        .order_by(Burst.start.desc(), Burst.id.desc())
    )
    found: dict[int, list[BurstRef]] = {}
    for review_id, burst_id, kind, members in rows:
        found.setdefault(review_id, []).append(BurstRef(burst_id, kind, members))
    return found


def burst_member_ids(
    *, session: Session, burst_id: int, clinic_ids: Sequence[int] | None
) -> list[int]:
    """The burst's member reviews that the user may see (``clinic_ids`` None = every clinic);
    a near-duplicate cluster can reach into other clinics, whose reviews stay hidden."""
    query = (
        select(BurstReview.review_id)
        .join(Review, Review.id == BurstReview.review_id)
        .join(Listing, Listing.id == Review.listing_id)
        .where(BurstReview.burst_id == burst_id)
        .order_by(BurstReview.review_id)
    )
    if clinic_ids is not None:
        query = query.where(Listing.clinic_id.in_(list(clinic_ids)))
    return list(session.scalars(query))


def record_group_decision(
    *,
    session: Session,
    review_ids: Sequence[int],
    body: DecisionCreate,
    user: User,
    clinic_ids: Sequence[int] | None = None,
) -> int:
    """The same decision for every review (each audited on its own); flushed, the caller
    commits. Returns how many were recorded. Raises ReviewNotFound like
    :func:`record_decision` (then nothing may be committed)."""
    for review_id in review_ids:
        record_decision(
            session=session, review_id=review_id, body=body, user=user, clinic_ids=clinic_ids
        )
    return len(review_ids)
