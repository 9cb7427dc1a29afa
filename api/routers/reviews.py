"""``/api/v1/reviews``: the flagged queue and every review, keyset-paginated; one review by id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import TypeAdapter

from api.auth import CurrentUser, visible_clinic_ids
from api.deps import SessionDep
from api.errors import error_responses
from api.filters import ReviewFilters
from api.params import ReviewIdPath
from kuchikomi.schemas import (
    Category,
    Day,
    DbId,
    DecisionStatus,
    Page,
    ReviewDetail,
    ReviewPublic,
)
from kuchikomi.services.decisions import review_detail
from kuchikomi.services.reviews import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    list_reviews,
)

router = APIRouter(prefix="/api/v1/reviews", tags=["reviews"])
_REVIEW_PAGE = TypeAdapter(Page[ReviewPublic])


async def review_filters(
    flagged: Annotated[
        bool | None,
        Query(
            description="true: the staff queue, most probably harmful first (probability desc, "
            "then id desc). false: reviews not flagged (including not yet classified), newest "
            "first. Omitted: every review, newest first."
        ),
    ] = None,
    clinic_id: Annotated[
        DbId | None,
        Query(description="Only this clinic's reviews; 404 if no such clinic."),
    ] = None,
    category: Annotated[Category | None, Query(description="Only this harmful category.")] = None,
    source: Annotated[
        str | None,
        Query(
            max_length=32,
            pattern="^[a-z0-9_]+$",
            description="Only reviews from listings read by this site adapter (e.g. schema_org).",
        ),
    ] = None,
    decision: Annotated[
        DecisionStatus | None,
        Query(description="`undecided`, or the latest staff decision's value."),
    ] = None,
    posted_from: Annotated[
        Day | None, Query(description="Posted on or after this day (Japan time).")
    ] = None,
    posted_to: Annotated[
        Day | None, Query(description="Posted on or before this day (Japan time).")
    ] = None,
) -> ReviewFilters:
    """The queue's filters, shared by the JSON list and the CSV export (FastAPI validates the
    query string against the types above). ``async``: it does no I/O, so it runs on the event
    loop instead of taking a worker thread of its own."""
    return ReviewFilters(
        flagged=flagged,
        clinic_id=clinic_id,
        category=category.value if category else None,
        source=source,
        decision=decision.value if decision else None,
        posted_from=posted_from,
        posted_to=posted_to,
    )


ReviewFiltersDep = Annotated[ReviewFilters, Depends(review_filters)]


@router.get(
    "",
    response_model=Page[ReviewPublic],
    summary="The flagged queue, or every review",
    responses=error_responses(401, 404, 422),
)
def get_reviews(
    session: SessionDep,
    user: CurrentUser,
    filters: ReviewFiltersDep,
    cursor: Annotated[
        str | None,
        Query(max_length=200, description="`next_cursor` of the previous page, unchanged."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Response:
    """One page: `{"items": [...], "next_cursor": token or null}`. A cursor stays valid while
    reviews are added; a cursor from another `flagged` mode, or a damaged one, answers 422."""
    page = list_reviews(
        session=session,
        cursor=cursor,
        limit=limit,
        clinic_ids=visible_clinic_ids(user),
        **filters.query(),
    )
    # The page is already a validated model: serialise it once, in pydantic-core, rather than
    # let FastAPI validate it again first (a tenth of the queue's CPU time per request).
    return Response(_REVIEW_PAGE.dump_json(page), media_type="application/json")


@router.get(
    "/{review_id}",
    response_model=ReviewDetail,
    summary="One review with its classification, decisions, bursts and captures",
    responses=error_responses(401, 404),
)
def get_one_review(review_id: ReviewIdPath, session: SessionDep, user: CurrentUser) -> ReviewDetail:
    return review_detail(session=session, review_id=review_id, clinic_ids=visible_clinic_ids(user))
