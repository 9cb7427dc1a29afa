"""What a clinic user may see — one review (:func:`visible_review`), records that span clinics —
and what they may not do (:func:`refuse_unless_deciding`, :func:`refuse_unless_editing_cases`).

Cross-clinic detectors (near-duplicate texts, one author posting about many clinics) store in a
burst's ``details`` the ids of every clinic and review of the campaign. A clinic user sees only
their own clinics' ids anywhere (docs/architecture.md, access control): that a campaign reaches
other clinics may be said — ``cross_clinic``, ``other_clinics`` (how many) — but not which, nor
their reviews.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.interfaces import ORMOption

from kuchikomi.errors import Forbidden, ReviewNotFound
from kuchikomi.schemas import BurstPublic
from models import Listing, Review, User

# The association's staff: they see every clinic, decide, edit takedown drafts and record case
# steps. Clinic users see their own clinics and only read (docs/architecture.md, access control).
STAFF_ROLES = ("admin", "reviewer")

# details keys holding review ids of the whole campaign (detector/run.py).
_CAMPAIGN_REVIEW_IDS = ("cluster_review_ids", "run_review_ids")
_IN_CHUNK = 500


def _own_review_ids(session: Session, review_ids: set[int], clinic_ids: Sequence[int]) -> set[int]:
    ordered = sorted(review_ids)
    own: set[int] = set()
    for i in range(0, len(ordered), _IN_CHUNK):
        own.update(
            session.scalars(
                select(Review.id)
                .join(Listing, Listing.id == Review.listing_id)
                .where(Review.id.in_(ordered[i : i + _IN_CHUNK]), Listing.clinic_id.in_(clinic_ids))
            )
        )
    return own


def _scoped_details(details: dict[str, Any], clinics: set[int], own: set[int]) -> dict[str, Any]:
    scoped = dict(details)
    if isinstance(details.get("clinic_ids"), list):
        named = details["clinic_ids"]
        scoped["clinic_ids"] = [c for c in named if c in clinics]
        scoped["other_clinics"] = len(named) - len(scoped["clinic_ids"])
    for key in _CAMPAIGN_REVIEW_IDS:
        if isinstance(details.get(key), list):
            scoped[key] = [r for r in details[key] if r in own]
    return scoped


def bursts_for_viewer(
    *, session: Session, bursts: Sequence[BurstPublic], clinic_ids: Sequence[int] | None
) -> list[BurstPublic]:
    """The bursts as someone who sees ``clinic_ids`` (None: every clinic) may see them."""
    if clinic_ids is None:
        return list(bursts)
    clinics = set(clinic_ids)
    named = {
        r
        for burst in bursts
        for key in _CAMPAIGN_REVIEW_IDS
        for r in burst.details.get(key) or ()
        if isinstance(r, int)
    }
    own = _own_review_ids(session, named, sorted(clinics)) if named and clinics else set()
    return [
        burst.model_copy(update={"details": _scoped_details(burst.details, clinics, own)})
        for burst in bursts
    ]


def visible_review(
    *,
    session: Session,
    review_id: int,
    clinic_ids: Sequence[int] | None,
    options: Sequence[ORMOption] = (),
) -> Review:
    """The review if the caller may see it (``clinic_ids`` None: every clinic), else
    :class:`~kuchikomi.errors.ReviewNotFound` — another clinic's review looks exactly like one
    that does not exist. Every lookup of one review on someone's behalf goes through here;
    ``options`` are loader options (``selectinload(...)``) for what the caller reads next."""
    query = select(Review).join(Review.listing).where(Review.id == review_id).options(*options)
    if clinic_ids is not None:
        query = query.where(Listing.clinic_id.in_(clinic_ids))
    review = session.scalars(query).one_or_none()
    if review is None:
        raise ReviewNotFound(review_id)
    return review


def is_staff(user: User) -> bool:
    """Whether ``user`` may change what they see (admin, reviewer), not only read it."""
    return user.role in STAFF_ROLES


def refuse_unless_deciding(user: User) -> None:
    """:class:`~kuchikomi.errors.Forbidden` for a clinic user: the decision is the
    association's, and it trains the classifier. Callers look the review up first, so that
    another clinic's review stays 404."""
    if not is_staff(user):
        raise Forbidden(
            "only admins and reviewers record decisions",
            "判断を記録できるのは管理者と確認担当者です。",
        )


def refuse_unless_editing_cases(user: User) -> None:
    """:class:`~kuchikomi.errors.Forbidden` for a clinic user: they read takedown drafts and
    cases but change nothing. Callers look the review up first (another clinic's is 404)."""
    if not is_staff(user):
        raise Forbidden(
            "only admins and reviewers edit drafts and record case steps",
            "下書きの編集と対応状況の記録ができるのは管理者と確認担当者です。",
        )
