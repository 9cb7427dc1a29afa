"""Figures for the dashboard: per-clinic counts, the weekly flagged trend, open takedown cases.

Every function takes ``clinic_ids`` (None = every clinic) so that a clinic user's dashboard only
counts their own clinics. Counting is done by the database with portable SQL (no
SQLite- or PostgreSQL-only date functions); weeks are bucketed in Python over a bounded window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from kuchikomi.japanese import JST
from models import Burst, Classification, Clinic, Listing, Review, TakedownCase
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

    flagged = Classification.flagged.is_(True)
    recent = Review.first_seen_at >= now - timedelta(days=RECENT_DAYS)
    review_counts = (
        select(
            Listing.clinic_id,
            func.count(Review.id),
            func.count(Classification.id).filter(flagged),
            func.count(Classification.id).filter(flagged, recent),
            func.count(Review.id).filter(Review.removed_at.is_not(None)),
        )
        .join(Review, Review.listing_id == Listing.id)
        .outerjoin(Classification, Classification.review_id == Review.id)
        .group_by(Listing.clinic_id)
    )
    for cid, total, n_flagged, n_recent, n_removed in session.execute(
        _scoped(review_counts, Listing.clinic_id, clinic_ids)
    ):
        if cid in summaries:
            s = summaries[cid]
            s.reviews, s.flagged, s.flagged_recent, s.removed = (
                total,
                n_flagged,
                n_recent,
                n_removed,
            )

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
    since = datetime.combine(starts[0], datetime.min.time(), JST)
    counted_at = func.coalesce(Review.posted_at, Review.first_seen_at)
    query = (
        select(Review.posted_at, Review.first_seen_at, func.coalesce(Classification.flagged, False))
        .join(Listing, Listing.id == Review.listing_id)
        .outerjoin(Classification, Classification.review_id == Review.id)
        .where(counted_at >= since)
    )
    query = _scoped(query, Listing.clinic_id, clinic_ids)
    if clinic_id is not None:
        query = query.where(Listing.clinic_id == clinic_id)
    buckets = {start: TrendWeek(start=start, reviews=0, flagged=0) for start in starts}
    for posted_at, first_seen_at, is_flagged in session.execute(query):
        moment = first_seen_at if posted_at is None else min(posted_at, first_seen_at)
        week = buckets.get(_week_start(moment))
        if week is None:  # a first sighting in the future (clock skew): not on the chart
            continue
        week.reviews += 1
        week.flagged += int(bool(is_flagged))
    return [buckets[start] for start in starts]
