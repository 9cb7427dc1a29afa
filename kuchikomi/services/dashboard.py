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

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from kuchikomi.japanese import JST
from models import Burst, Clinic, FlaggedReview, Listing, ListingReviewCount, Review, TakedownCase
from models.base import utcnow

# Weeks run Monday to Sunday in Japanese time, like the staff's calendar.
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
    open_cases: int = 0


@dataclass
class TrendWeek:
    start: date
    reviews: int
    flagged: int


def _scoped(query: Select[Any], clinic_column: Any, clinic_ids: list[int] | None) -> Select[Any]:
    if clinic_ids is None:
        return query
    return query.where(clinic_column.in_(clinic_ids))


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

    open_counts = (
        select(Listing.clinic_id, func.count(TakedownCase.id))
        .join(Review, Review.listing_id == Listing.id)
        .join(TakedownCase, TakedownCase.review_id == Review.id)
        .where(TakedownCase.status.in_(OPEN_CASE_STATUSES))
        .group_by(Listing.clinic_id)
    )
    for cid, n in session.execute(_scoped(open_counts, Listing.clinic_id, clinic_ids)):
        if cid in summaries:
            summaries[cid].open_cases = n
    return list(summaries.values())


def _week_start(moment: datetime) -> date:
    local = moment.astimezone(JST).date()
    return local - timedelta(days=local.weekday())


def flagged_trend(
    *,
    session: Session,
    clinic_ids: list[int] | None,
    clinic_id: int | None = None,
    weeks: int = TREND_WEEKS,
    now: datetime | None = None,
) -> list[TrendWeek]:
    """Reviews and flagged reviews per week in which they were posted, oldest week first.

    The post date (exact or estimated from 「3日前」), never later than the first sighting;
    the first sighting only where no date is known. Counting by first sighting made a new
    listing's first crawl look like a flood of reviews in its week.
    """
    now = now or utcnow()
    this_week = _week_start(now)
    starts = [this_week - timedelta(weeks=i) for i in reversed(range(weeks))]
    bounds = [datetime.combine(start, datetime.min.time(), JST) for start in starts]
    # A first sighting after this week (clock skew) is not on the chart.
    bounds.append(bounds[-1] + timedelta(weeks=1))
    scope = None
    if clinic_ids is not None or clinic_id is not None:
        scope = _scoped(select(Listing.id), Listing.clinic_id, clinic_ids)
        if clinic_id is not None:
            scope = scope.where(Listing.clinic_id == clinic_id)

    def per_week(posted: Any, seen: Any, listing_id: Any) -> list[int]:
        """One count per week, each two index ranges (no per-row date arithmetic): reviews
        posted in the week before they were first seen, by ``posted``; the rest (no date, or a
        date after the first sighting) by ``seen``. A week of a million-review database is a
        few thousand index entries."""
        counts = []
        for since, until in itertools.pairwise(bounds):
            by_post = select(func.count()).where(posted >= since, posted < until, posted < seen)
            by_sighting = select(func.count()).where(
                seen >= since, seen < until, or_(posted.is_(None), posted >= seen)
            )
            for count in (by_post, by_sighting):
                if scope is not None:
                    count = count.where(listing_id.in_(scope))
                counts.append(count.scalar_subquery())
        values = list(session.execute(select(*counts)).one())
        return [a + b for a, b in zip(values[::2], values[1::2], strict=True)]

    reviews = per_week(Review.posted_at, Review.first_seen_at, Review.listing_id)
    flagged = per_week(
        FlaggedReview.posted_at, FlaggedReview.first_seen_at, FlaggedReview.listing_id
    )
    return [
        TrendWeek(start=start, reviews=n_reviews, flagged=n_flagged)
        for start, n_reviews, n_flagged in zip(starts, reviews, flagged, strict=True)
    ]
