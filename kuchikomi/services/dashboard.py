"""Figures for the dashboard: per-clinic counts, the weekly flagged trend, open takedown cases.

Every function takes ``clinic_ids`` (None = every clinic) so that a clinic user's dashboard only
counts their own clinics. Counting is done by the database with portable SQL (no
SQLite- or PostgreSQL-only date functions); weeks are bucketed in Python over a bounded window.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from models import Burst, Clinic, FlaggedReview, Listing, ListingReviewCount, Review
from models.base import utcnow

# Weeks run Monday to Sunday in Japanese time, like the staff's calendar.
DISPLAY_TZ = ZoneInfo("Asia/Tokyo")
TREND_WEEKS = 12
RECENT_DAYS = 30
# Takedown cases still waiting on someone: a draft not yet sent, or sent without an answer yet.
OPEN_CASE_STATUSES = ("draft", "sent")


@dataclass
class ClinicSummary:
    id: int
    name: str
    reviews: int = 0
    flagged: int = 0
    # Flagged reviews first seen in the last RECENT_DAYS days.
    flagged_recent: int = 0
    removed: int = 0
    bursts: int = 0
    # None when takedown cases are not part of this build.
    open_cases: int | None = None


@dataclass
class TrendWeek:
    start: date
    reviews: int
    flagged: int


def _scoped(query: Select[Any], clinic_column: Any, clinic_ids: list[int] | None) -> Select[Any]:
    if clinic_ids is None:
        return query
    return query.where(clinic_column.in_(clinic_ids))


def _case_model() -> Any:
    """The takedown case table, if this build has it (issue 5, items 4–6)."""
    try:
        from models.cases import TakedownCase
    except ImportError:
        return None
    return TakedownCase


def clinic_summaries(
    *, session: Session, clinic_ids: list[int] | None, now: datetime | None = None
) -> list[ClinicSummary]:
    now = now or utcnow()
    clinics = session.execute(
        _scoped(
            select(Clinic.id, Clinic.name).order_by(Clinic.name, Clinic.id), Clinic.id, clinic_ids
        )
    ).all()
    summaries = {cid: ClinicSummary(id=cid, name=name) for cid, name in clinics}

    # Stored and removed reviews: from the summary the database keeps per listing
    # (models/summaries.py); counting the review table here took seconds at a million reviews.
    stored = (
        select(
            Listing.clinic_id,
            func.sum(ListingReviewCount.reviews),
            func.sum(ListingReviewCount.removed),
        )
        .join(ListingReviewCount, ListingReviewCount.listing_id == Listing.id)
        .group_by(Listing.clinic_id)
    )
    for cid, total, n_removed in session.execute(_scoped(stored, Listing.clinic_id, clinic_ids)):
        if cid in summaries:
            summaries[cid].reviews, summaries[cid].removed = int(total), int(n_removed)

    # Flagged reviews, all and recent: from the narrow copy of the flagged ones (same module).
    recent = FlaggedReview.first_seen_at >= now - timedelta(days=RECENT_DAYS)
    flagged_counts = (
        select(Listing.clinic_id, func.count(), func.count().filter(recent))
        .select_from(FlaggedReview)
        .join(Listing, Listing.id == FlaggedReview.listing_id)
        .group_by(Listing.clinic_id)
    )
    for cid, n_flagged, n_recent in session.execute(
        _scoped(flagged_counts, Listing.clinic_id, clinic_ids)
    ):
        if cid in summaries:
            summaries[cid].flagged, summaries[cid].flagged_recent = n_flagged, n_recent

    burst_counts = select(Burst.clinic_id, func.count(Burst.id)).group_by(Burst.clinic_id)
    for cid, n in session.execute(_scoped(burst_counts, Burst.clinic_id, clinic_ids)):
        if cid in summaries:
            summaries[cid].bursts = n

    case = _case_model()
    if case is not None:
        for s in summaries.values():
            s.open_cases = 0
        open_counts = (
            select(Listing.clinic_id, func.count(case.id))
            .join(Review, Review.listing_id == Listing.id)
            .join(case, case.review_id == Review.id)
            .where(case.status.in_(OPEN_CASE_STATUSES))
            .group_by(Listing.clinic_id)
        )
        for cid, n in session.execute(_scoped(open_counts, Listing.clinic_id, clinic_ids)):
            if cid in summaries:
                summaries[cid].open_cases = n
    return list(summaries.values())


def _week_start(moment: datetime) -> date:
    local = moment.astimezone(DISPLAY_TZ).date()
    return local - timedelta(days=local.weekday())


def flagged_trend(
    *,
    session: Session,
    clinic_ids: list[int] | None,
    clinic_id: int | None = None,
    weeks: int = TREND_WEEKS,
    now: datetime | None = None,
) -> list[TrendWeek]:
    """Reviews and flagged reviews per week of first sighting, oldest week first.

    First sighting rather than post date: it is when the system could tell anyone, and every
    review has one (portals showing only relative dates give no exact post date).
    """
    now = now or utcnow()
    this_week = _week_start(now)
    starts = [this_week - timedelta(weeks=i) for i in reversed(range(weeks))]
    bounds = [datetime.combine(start, datetime.min.time(), DISPLAY_TZ) for start in starts]
    # A first sighting after this week (clock skew) is not on the chart.
    bounds.append(bounds[-1] + timedelta(weeks=1))
    scope = None
    if clinic_ids is not None or clinic_id is not None:
        scope = _scoped(select(Listing.id), Listing.clinic_id, clinic_ids)
        if clinic_id is not None:
            scope = scope.where(Listing.clinic_id == clinic_id)

    def per_week(moment: Any, listing_id: Any) -> list[int]:
        """One count per week, each an index range (no per-row date arithmetic): a week of a
        million-review database is a few thousand index entries."""
        counts = []
        for since, until in itertools.pairwise(bounds):
            count = select(func.count()).where(moment >= since, moment < until)
            if scope is not None:
                count = count.where(listing_id.in_(scope))
            counts.append(count.scalar_subquery())
        return list(session.execute(select(*counts)).one())

    reviews = per_week(Review.first_seen_at, Review.listing_id)
    flagged = per_week(FlaggedReview.first_seen_at, FlaggedReview.listing_id)
    return [
        TrendWeek(start=start, reviews=n_reviews, flagged=n_flagged)
        for start, n_reviews, n_flagged in zip(starts, reviews, flagged, strict=True)
    ]
