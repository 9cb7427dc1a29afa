"""``GET /api/v1/reviews.csv``: the queue (or every review) as a CSV file for spreadsheets.

Same filters and order as ``GET /api/v1/reviews``, every page at once. The file starts with a
UTF-8 byte order mark (so Excel reads Japanese correctly) and cells that a spreadsheet would run
as formulas are neutralised (:mod:`kuchikomi.services.export`). A clinic user gets only their
clinics' reviews; another clinic's id answers 404 like an unknown one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from api.auth import CurrentUser, visible_clinic_ids
from api.deps import SessionDep
from api.errors import error_responses
from api.routers.reviews import ReviewFiltersDep
from kuchikomi.schemas import Page, ReviewPublic
from kuchikomi.services.export import review_csv_lines
from kuchikomi.services.reviews import MAX_LIMIT, list_reviews
from models.base import utcnow
from models.db import new_session

router = APIRouter(prefix="/api/v1", tags=["reviews"])

EXPORT_PATH = "/api/v1/reviews.csv"


def export_url(page_filters: Mapping[str, Any]) -> str:
    """The CSV of exactly what the queue page shows with these filters (its ``show=all``
    means every review; otherwise the flagged queue)."""
    query = {k: v for k, v in page_filters.items() if k != "show"}
    if page_filters.get("show") != "all":
        query = {"flagged": "true", **query}
    return EXPORT_PATH + ("?" + urlencode(query) if query else "")


@router.get(
    "/reviews.csv",
    summary="The queue, or every review, as CSV",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "UTF-8 CSV with a byte order mark"},
        **error_responses(401, 404, 422),
    },
)
def export_reviews_csv(
    session: SessionDep,
    user: CurrentUser,
    filters: ReviewFiltersDep,
) -> StreamingResponse:
    """Columns (Japanese headers): id, clinic, listing and review URLs, author, rating, dates,
    label, category, harmful probability, flagged, reasons, staff decision, whether the text was
    rewritten on the site after that decision, text. The filters are those of
    `GET /api/v1/reviews` and of the queue page, which links here."""
    scope = visible_clinic_ids(user)

    def page_of(db: Session, cursor: str | None) -> Page[ReviewPublic]:
        return list_reviews(
            session=db,
            cursor=cursor,
            limit=MAX_LIMIT,
            clinic_ids=scope,
            **filters.query(),
        )

    # The first page is read here so that a bad filter answers 404 before streaming starts.
    first = page_of(session, None)
    # Give the request's connection back now: the body may take minutes to download, and a pool
    # connection held per download made concurrent exports fail.
    session.close()

    def rows() -> Iterator[ReviewPublic]:
        page = first
        yield from page.items
        # Each later page in a short session of its own, closed before its rows are sent: no
        # connection is held while the client reads, and memory stays one page.
        while page.next_cursor:
            with new_session() as own:
                page = page_of(own, page.next_cursor)
            yield from page.items

    name = f"kuchikomi-reviews-{utcnow():%Y%m%d-%H%M%S}.csv"
    return StreamingResponse(
        review_csv_lines(rows()),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
