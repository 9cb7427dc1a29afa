"""The staff web UI in Japanese: the flagged queue (``/``), clinics, one review.

Server-rendered, no JavaScript. Every value from a review is escaped by the template engine
(see :mod:`api.templating`) and outbound links are http(s) only, marked ``nofollow``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.auth import CurrentUser, visible_clinic_ids
from api.deps import SessionDep
from api.filters import ReviewFilters
from api.params import ReviewIdPath, parse_day, parse_id
from api.routers.export import export_url
from api.routers.staff_pages import render_review_page
from api.templating import error_page, templates
from kuchikomi.japanese import CATEGORY_JA, site_label
from kuchikomi.services.clinics import clinic_choices, list_clinics, listing_sources
from kuchikomi.services.decisions import review_detail
from kuchikomi.services.group_decisions import bursts_of_reviews
from kuchikomi.services.reviews import (
    CursorError,
    list_reviews,
    review_counts_by_clinic,
)

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 30


def _parse_clinic_id(value: str | None) -> int | None:
    """The filter form sends "" for "all clinics"; anything else must be a positive id."""
    return parse_id(value) if value else None


# The queue's decision filter. Without one the queue shows what is still to be decided: a
# decided review has been dealt with and only hides the ones that have not ("all" shows both).
DECISION_STATUS_JA = {
    "undecided": "未判断",
    "all": "すべて（判断済みも表示）",
    "harmful": "有害と判断",
    "criticism": "正当な批判と判断",
    "unsure": "保留（判断つかず）",
}
DEFAULT_DECISION = "undecided"
_BAD_FILTER = "指定が正しくありません"


class _BadFilter(Exception):
    def __init__(self, message_ja: str) -> None:
        super().__init__(message_ja)
        self.message_ja = message_ja


def _queue_filters(
    *,
    clinic_id: str | None,
    category: str | None,
    source: str | None,
    decision: str | None,
    posted_from: str | None,
    posted_to: str | None,
    show: str | None,
    sources: Collection[str],
) -> tuple[ReviewFilters, dict[str, Any]]:
    """The queue form's filters: what to list (the same filters as the JSON API's), and what the
    form and its links keep selected (the query string's values; "" is "not filtered")."""
    try:
        selected_clinic = _parse_clinic_id(clinic_id)
    except ValueError:
        raise _BadFilter("医療機関の指定が正しくありません。") from None
    selected: dict[str, Any] = {}
    if selected_clinic is not None:
        selected["clinic_id"] = selected_clinic
    for name, value, allowed in (
        ("category", category, CATEGORY_JA),
        ("source", source, sources),
        ("decision", decision, DECISION_STATUS_JA),
        ("show", show, ("all",)),
    ):
        if value:
            if value not in allowed:
                raise _BadFilter("絞り込みの指定が正しくありません。")
            selected[name] = value
    try:
        day_from, day_to = parse_day(posted_from), parse_day(posted_to)
    except ValueError:
        raise _BadFilter(
            "日付は 1990-01-01〜2100-12-31 の範囲で、YYYY-MM-DD の形で指定してください。"
        ) from None
    if day_from is not None:
        selected["posted_from"] = day_from.isoformat()
    if day_to is not None:
        selected["posted_to"] = day_to.isoformat()
    shown_decision = selected.get("decision", DEFAULT_DECISION)
    filters = ReviewFilters(
        flagged=None if selected.get("show") == "all" else True,
        clinic_id=selected_clinic,
        category=selected.get("category"),
        source=selected.get("source"),
        decision=None if shown_decision == "all" else shown_decision,
        posted_from=day_from,
        posted_to=day_to,
    )
    return filters, selected


@router.get("/", response_class=HTMLResponse)
@router.get("/reviews", response_class=HTMLResponse)
def queue_page(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    clinic_id: Annotated[str | None, Query(max_length=20)] = None,
    category: Annotated[str | None, Query(max_length=32)] = None,
    source: Annotated[str | None, Query(max_length=32)] = None,
    decision: Annotated[str | None, Query(max_length=16)] = None,
    posted_from: Annotated[str | None, Query(max_length=10)] = None,
    posted_to: Annotated[str | None, Query(max_length=10)] = None,
    show: Annotated[str | None, Query(max_length=8)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    """The queue: flagged reviews, most probably harmful first, then the newest (``show=all``:
    every review, newest first), with filters for clinic, category, site, decision and date."""
    visible = visible_clinic_ids(user)
    # Names for the clinic menu, not every clinic with its listings (a tenth of the page's time
    # at 2,000 clinics).
    clinics = clinic_choices(session=session, clinic_ids=visible)
    sources = listing_sources(session=session, clinic_ids=visible)
    try:
        filters, selected = _queue_filters(
            clinic_id=clinic_id,
            category=category,
            source=source,
            decision=decision,
            posted_from=posted_from,
            posted_to=posted_to,
            show=show,
            sources=sources,
        )
    except _BadFilter as error:
        return error_page(request, 400, _BAD_FILTER, error.message_ja)
    shown_decision = selected.get("decision", DEFAULT_DECISION)
    try:
        page = list_reviews(
            session=session,
            cursor=cursor or None,
            limit=PAGE_SIZE,
            clinic_ids=visible,
            **filters.query(),
        )
    except CursorError:
        return error_page(
            request,
            400,
            "ページ指定が正しくありません",
            "ページの指定が壊れているか、古くなっています。最初のページから開き直してください。",
        )
    path = request.url.path
    first_url = path + ("?" + urlencode(selected) if selected else "")
    next_url = (
        f"{path}?" + urlencode({**selected, "cursor": page.next_cursor})
        if page.next_cursor
        else None
    )
    return templates.TemplateResponse(
        request,
        "queue.html",
        {
            "page": page,
            "clinics": clinics,
            "sources": sources,
            "decision_statuses": DECISION_STATUS_JA,
            "selected": selected,
            "selected_clinic": filters.clinic_id,
            "selected_category": filters.category,
            "show_all": selected.get("show") == "all",
            "form_action": path,
            "is_first_page": not cursor,
            "first_url": first_url,
            "next_url": next_url,
            "filtered": bool(selected),
            "csv_url": export_url(
                {**selected, "decision": shown_decision}
                if shown_decision != "all"
                else {k: v for k, v in selected.items() if k != "decision"}
            ),
            "shown_decision": shown_decision,
            "review_bursts": bursts_of_reviews(
                session=session, review_ids=[r.id for r in page.items]
            ),
            "site_names": {key: site_label(key) for key in sources},
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


@router.get("/sources", response_class=HTMLResponse)
def sources_page(request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    """Crawl health of every listing the user may see: is each site really being read?"""
    from kuchikomi.services.health import ADVICE_JA, list_health

    visible = visible_clinic_ids(user)
    clinics = {c.id: c.name for c in list_clinics(session=session, clinic_ids=visible)}
    rows = list_health(session=session, clinic_ids=visible)
    return templates.TemplateResponse(
        request,
        "sources.html",
        {
            "rows": rows,
            "clinic_names": clinics,
            "advice": ADVICE_JA,
            "problems": sum(1 for r in rows if r.status not in ("ok", None)),
        },
    )


@router.get("/reviews/{review_id}", response_class=HTMLResponse)
def review_page(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    review_id: ReviewIdPath,
    saved: Annotated[bool, Query()] = False,
) -> HTMLResponse:
    review = review_detail(
        session=session, review_id=review_id, clinic_ids=visible_clinic_ids(user)
    )
    return render_review_page(request, review, user=user, saved=saved)
