"""``/api/v1/reviews``: the flagged queue and every review, keyset-paginated; one review by id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status

from api.auth import CurrentUser, visible_clinic_ids
from api.deps import SessionDep
from api.errors import error_responses
from kuchikomi.schemas import Category, Page, ReviewPublic
from kuchikomi.services.reviews import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    ClinicNotFoundError,
    CursorError,
    get_review,
    list_reviews,
)

router = APIRouter(prefix="/api/v1/reviews", tags=["reviews"])


@router.get(
    "",
    response_model=Page[ReviewPublic],
    summary="The flagged queue, or every review",
    responses=error_responses(401, 404, 422),
)
def get_reviews(
    session: SessionDep,
    user: CurrentUser,
    flagged: Annotated[
        bool | None,
        Query(
            description="true: the staff queue, most probably harmful first (probability desc, "
            "then id desc). false: reviews not flagged (including not yet classified), newest "
            "first. Omitted: every review, newest first."
        ),
    ] = None,
    clinic_id: Annotated[
        int | None, Query(ge=1, description="Only this clinic's reviews; 404 if no such clinic.")
    ] = None,
    category: Annotated[Category | None, Query(description="Only this harmful category.")] = None,
    cursor: Annotated[
        str | None,
        Query(max_length=200, description="`next_cursor` of the previous page, unchanged."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[ReviewPublic]:
    """One page: `{"items": [...], "next_cursor": token or null}`. A cursor stays valid while
    reviews are added; a cursor from another `flagged` mode, or a damaged one, answers 422."""
    try:
        return list_reviews(
            session=session,
            flagged=flagged,
            clinic_id=clinic_id,
            category=category.value if category else None,
            cursor=cursor,
            limit=limit,
            clinic_ids=visible_clinic_ids(user),
        )
    except CursorError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    except ClinicNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None


@router.get(
    "/{review_id}",
    response_model=ReviewPublic,
    summary="One review with its classification",
    responses=error_responses(401, 404),
)
def get_one_review(
    review_id: Annotated[int, Path(ge=1)], session: SessionDep, user: CurrentUser
) -> ReviewPublic:
    review = get_review(session=session, review_id=review_id, clinic_ids=visible_clinic_ids(user))
    if review is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"review {review_id} does not exist")
    return review
