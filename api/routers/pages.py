"""The staff web UI in Japanese: the flagged queue (``/``), clinics, one review.

Server-rendered, no JavaScript. Every value from a review is escaped by the template engine
(see :mod:`api.templating`) and outbound links are http(s) only, marked ``nofollow``.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import HTMLResponse

from api.auth import CurrentUser, visible_clinic_ids
from api.deps import SessionDep
from api.templating import CATEGORY_JA, templates
from kuchikomi.services.clinics import list_clinics
from kuchikomi.services.reviews import (
    ClinicNotFoundError,
    CursorError,
    get_review,
    list_reviews,
    review_counts_by_clinic,
)

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 30


def _error_page(request: Request, code: int, title: str, message: str) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "error.html", {"title": title, "message": message}, status_code=code
    )


def _parse_clinic_id(value: str | None) -> int | None:
    """The filter form sends "" for "all clinics"; anything else must be a positive id."""
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or int(value) < 1:
        raise ValueError(value)
    return int(value)


@router.get("/", response_class=HTMLResponse)
def queue_page(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    clinic_id: Annotated[str | None, Query(max_length=20)] = None,
    category: Annotated[str | None, Query(max_length=32)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    try:
        selected_clinic = _parse_clinic_id(clinic_id)
    except ValueError:
        return _error_page(
            request, 400, "指定が正しくありません", "医療機関の指定が正しくありません。"
        )
    selected_category = category or None
    if selected_category is not None and selected_category not in CATEGORY_JA:
        return _error_page(request, 400, "指定が正しくありません", "分類の指定が正しくありません。")
    try:
        page = list_reviews(
            session=session,
            flagged=True,
            clinic_id=selected_clinic,
            category=selected_category,
            cursor=cursor or None,
            limit=PAGE_SIZE,
            clinic_ids=visible_clinic_ids(user),
        )
    except ClinicNotFoundError:
        return _error_page(
            request,
            status.HTTP_404_NOT_FOUND,
            "見つかりません",
            "指定された医療機関は登録されていません。",
        )
    except CursorError:
        return _error_page(
            request,
            400,
            "ページ指定が正しくありません",
            "ページの指定が壊れているか、古くなっています。最初のページから開き直してください。",
        )
    filters: dict[str, Any] = {}
    if selected_clinic is not None:
        filters["clinic_id"] = selected_clinic
    if selected_category is not None:
        filters["category"] = selected_category
    first_url = "/" + ("?" + urlencode(filters) if filters else "")
    next_url = (
        "/?" + urlencode({**filters, "cursor": page.next_cursor}) if page.next_cursor else None
    )
    return templates.TemplateResponse(
        request,
        "queue.html",
        {
            "page": page,
            "clinics": list_clinics(session=session, clinic_ids=visible_clinic_ids(user)),
            "selected_clinic": selected_clinic,
            "selected_category": selected_category,
            "is_first_page": not cursor,
            "first_url": first_url,
            "next_url": next_url,
            "filtered": bool(filters),
        },
    )


@router.get("/clinics", response_class=HTMLResponse)
def clinics_page(request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    visible = visible_clinic_ids(user)
    return templates.TemplateResponse(
        request,
        "clinics.html",
        {
            "clinics": list_clinics(session=session, clinic_ids=visible),
            "counts": review_counts_by_clinic(session=session, clinic_ids=visible),
        },
    )


@router.get("/reviews/{review_id}", response_class=HTMLResponse)
def review_page(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    review_id: Annotated[int, Path(ge=1)],
) -> HTMLResponse:
    review = get_review(session=session, review_id=review_id, clinic_ids=visible_clinic_ids(user))
    if review is None:
        return _error_page(
            request, status.HTTP_404_NOT_FOUND, "見つかりません", "この口コミは登録されていません。"
        )
    return templates.TemplateResponse(request, "review.html", {"review": review})
