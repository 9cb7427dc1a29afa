"""Deadlines of confirmed harmful reviews (docs/domain.md).

Two dates matter:

- **発信者情報開示** (disclosure of the poster's identity): connection providers keep their logs
  about 3–6 months (mobile carriers about 3), so a request must start well before the post
  date + ``settings.deadlines.disclosure_months``. That date is the *urgency date*; it is
  computed for every review whose latest staff decision is ``harmful``.
- **Follow-up**: a provider may delete when the poster does not object within 7 days of being
  asked, so ``settings.deadlines.follow_up_days`` after a request is sent staff should check
  the answer (only while the case is still ``sent``).

Dates are JST calendar days; nothing is stored, every listing is computed from the decisions
and cases as they are now.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from kuchikomi.services.cases import today_jst
from kuchikomi_settings import get_settings
from models import Listing, Review
from models.accounts import Decision, latest_decision_ids
from models.cases import CaseStatus, TakedownCase


class DeadlinePublic(BaseModel):
    kind: Literal["disclosure", "follow_up"]
    due_on: date
    # Negative when overdue.
    days_left: int
    review_id: int
    clinic_id: int
    clinic_name: str
    category: str | None
    text_excerpt: str
    # What the date is counted from, and whether that date is only estimated.
    basis_on: date
    basis_estimated: bool
    case_status: str | None
    review_removed: bool


class DeadlineList(BaseModel):
    today: date
    within_days: int
    items: list[DeadlinePublic]


def add_months(day: date, months: int) -> date:
    """``day`` + ``months`` calendar months, clamped to the month's last day (1/31 + 1 → 2/28);
    ``date.max`` past the calendar's end (a stored date far in the future must not fail)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    if year > date.max.year:
        return date.max
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _add_days(day: date, days: int) -> date:
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max


def _jst_day(value: datetime) -> date:
    try:
        return today_jst(value)
    except OverflowError:  # within hours of datetime.max
        return date.max


def _excerpt(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "…"


def list_deadlines(
    *,
    session: Session,
    clinic_ids: list[int] | None = None,
    within_days: int | None = None,
    today: date | None = None,
) -> DeadlineList:
    """Deadlines due within ``within_days`` (settings' ``due_soon_days`` when None), overdue ones
    included, soonest first. ``clinic_ids`` limits them to those clinics (None: all)."""
    settings = get_settings().deadlines
    today = today or today_jst()
    within = settings.due_soon_days if within_days is None else within_days
    horizon = _add_days(today, within)
    items: list[DeadlinePublic] = []

    # One query: each review whose latest decision is harmful, with its category and case.
    latest = latest_decision_ids().scalar_subquery()
    query = (
        select(Review, Decision.category, TakedownCase)
        .join(Decision, Decision.review_id == Review.id)
        .join(Review.listing)
        .outerjoin(TakedownCase, TakedownCase.review_id == Review.id)
        .where(Decision.id.in_(latest), Decision.decision == "harmful")
        .options(selectinload(Review.listing).selectinload(Listing.clinic))
    )
    if clinic_ids is not None:
        query = query.where(Listing.clinic_id.in_(clinic_ids))

    for review, category, case in session.execute(query):
        basis_estimated = review.posted_at is None or not review.posted_at_exact
        basis = _jst_day(review.posted_at or review.first_seen_at)
        items.append(
            _item(
                "disclosure",
                add_months(basis, settings.disclosure_months),
                today,
                review,
                category,
                basis,
                basis_estimated,
                case,
            )
        )
        if case is not None and case.status == CaseStatus.sent.value and case.sent_on:
            items.append(
                _item(
                    "follow_up",
                    _add_days(case.sent_on, settings.follow_up_days),
                    today,
                    review,
                    category,
                    case.sent_on,
                    False,
                    case,
                )
            )
    due = [item for item in items if item.due_on <= horizon]
    due.sort(key=lambda d: (d.due_on, d.review_id, d.kind))
    return DeadlineList(today=today, within_days=within, items=due)


def _item(
    kind: Literal["disclosure", "follow_up"],
    due_on: date,
    today: date,
    review: Review,
    category: str | None,
    basis_on: date,
    basis_estimated: bool,
    case: TakedownCase | None,
) -> DeadlinePublic:
    return DeadlinePublic(
        kind=kind,
        due_on=due_on,
        days_left=(due_on - today).days,
        review_id=review.id,
        clinic_id=review.listing.clinic_id,
        clinic_name=review.listing.clinic.name,
        category=category,
        text_excerpt=_excerpt(review.text),
        basis_on=basis_on,
        basis_estimated=basis_estimated,
        case_status=case.status if case is not None else None,
        review_removed=review.removed_at is not None,
    )
