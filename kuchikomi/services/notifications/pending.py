"""What is due to a subscription: items in its scope, new since it began and not yet sent to it.

"New" means flagged/detected after the subscription was created and not yet sent to it; an item
is recorded as sent (``notified_item``) only together with a successful delivery
(:mod:`.sending`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session

from kuchikomi.services.health import AUDIT_ACTION as HEALTH_AUDIT_ACTION
from models import Burst, Classification, Listing, NotificationSubscription, NotifiedItem, Review
from models.accounts import AuditEntry

# The role whose subscriptions hear about crawl health changes.
HEALTH_ROLE = "admin"


def _not_sent(subscription_id: int, kind: str, item_id: Any) -> Any:
    return ~exists().where(
        and_(
            NotifiedItem.subscription_id == subscription_id,
            NotifiedItem.kind == kind,
            NotifiedItem.item_id == item_id,
        )
    )


def pending_review_ids(*, session: Session, subscription: NotificationSubscription) -> list[int]:
    """Flagged, still-online reviews in scope, classified since the subscription began and not
    sent to it yet; most probably harmful first. Ids only: after a first crawl of many clinics
    this can be long, and only the first few are shown in full."""
    query = (
        select(Review.id)
        .join(Classification, Classification.review_id == Review.id)
        .join(Listing, Listing.id == Review.listing_id)
        .where(
            Classification.flagged.is_(True),
            Classification.classified_at >= subscription.created_at,
            Review.removed_at.is_(None),
            _not_sent(subscription.id, "review", Review.id),
        )
        .order_by(Classification.harmful_probability.desc(), Review.id)
    )
    if subscription.clinic_id is not None:
        query = query.where(Listing.clinic_id == subscription.clinic_id)
    return list(session.scalars(query))


def pending_health_ids(*, session: Session, subscription: NotificationSubscription) -> list[int]:
    """Crawl health changes (audit entries) since the subscription began, not sent to it yet.

    Only admins hear of them: fixing a profile or a blocked crawler is an operator's job, not
    something a clinic's people or reviewers can act on.
    """
    if subscription.role != HEALTH_ROLE:
        return []
    query = (
        select(AuditEntry.id)
        .where(
            AuditEntry.action == HEALTH_AUDIT_ACTION,
            AuditEntry.at >= subscription.created_at,
            _not_sent(subscription.id, "health", AuditEntry.id),
        )
        .order_by(AuditEntry.id)
    )
    return list(session.scalars(query))


def pending_burst_ids(*, session: Session, subscription: NotificationSubscription) -> list[int]:
    query = (
        select(Burst.id)
        .where(
            Burst.detected_at >= subscription.created_at,
            _not_sent(subscription.id, "burst", Burst.id),
        )
        .order_by(Burst.id)
    )
    if subscription.clinic_id is not None:
        query = query.where(Burst.clinic_id == subscription.clinic_id)
    return list(session.scalars(query))
