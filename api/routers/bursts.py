"""Bursts: ``GET /api/v1/bursts`` (JSON), the clinic page with its timeline chart, and a
burst's own page (``/bursts/{id}``) where its reviews are decided in one action (HTML).

The chart is server-rendered SVG (no JavaScript, CSP-safe: geometry in attributes, colours in
``/static/style.css``): one bar per Japan-time day for new reviews, the flagged part of each
bar in red, burst windows shaded behind the bars. Clinic users see only their own clinics;
another clinic answers 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Path, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import TypeAdapter, ValidationError

from api.auth import CurrentUser, can_see_clinic, visible_clinic_ids
from api.deps import SessionDep
from api.errors import error_responses
from api.params import ClinicIdPath
from api.routers.staff_pages import DECIDING_ROLES, form_error
from api.templating import not_found_page, templates
from detector import KINDS
from kuchikomi.japanese import JST, ja_day_range
from kuchikomi.labels import BURST_KIND_JA
from kuchikomi.schemas import NOTE_MAX_LENGTH, BurstPublic, DbId, DecisionCreate
from kuchikomi.services.bursts import (
    ClinicTimeline,
    burst_record_chunks,
    clinic_timeline,
    list_bursts,
    staff_burst_records_json,
)
from kuchikomi.services.group_decisions import burst_member_ids, record_group_decision
from kuchikomi.services.reviews import get_review
from kuchikomi.services.visibility import bursts_for_viewer
from models import Burst, Clinic

router = APIRouter(prefix="/api/v1/bursts", tags=["bursts"])
_BURST_LIST = TypeAdapter(list[BurstPublic])
page_router = APIRouter(include_in_schema=False)

KIND_SHORT = {
    "volume": "急増",
    "harmful": "有害急増",
    "rating_drop": "評価急落",
    "duplicate": "酷似文面",
    "author": "同一投稿者",
}


@router.get(
    "",
    response_model=list[BurstPublic],
    summary="Burst records, newest window first",
    responses=error_responses(401, 404, 422),
)
def get_bursts(
    session: SessionDep,
    user: CurrentUser,
    clinic_id: Annotated[
        DbId | None, Query(description="Only this clinic's bursts; 404 if no such clinic.")
    ] = None,
    kind: Annotated[
        str | None,
        Query(pattern="^(" + "|".join(KINDS) + ")$", description="Only this kind of burst."),
    ] = None,
) -> Response:
    """Bursts (kinds: volume, harmful, rating_drop, duplicate, author) with their member review
    ids. `observed`/`expected` are counts for volume and harmful, mean star ratings for
    rating_drop; `details` explains the rest. For a clinic user, the `details` of a campaign
    spanning clinics name only that user's clinics and reviews (`other_clinics` counts the
    rest)."""
    visible = visible_clinic_ids(user)
    if clinic_id is not None:
        if session.get(Clinic, clinic_id) is None or not can_see_clinic(user, clinic_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no clinic with id {clinic_id}")
        ids: list[int] | None = [clinic_id]
    else:
        ids = visible
    if visible is None:
        # Staff: each burst's stored record (written at detection), joined as it is.
        records = staff_burst_records_json(session=session, clinic_ids=ids, kind=kind)
        return Response(b"[" + b",".join(records) + b"]", media_type="application/json")
    # A clinic user learns that a campaign reaches other clinics, not which ones: their records
    # are built from the rows and scoped, a few hundred at a time. Serialised once, by
    # pydantic-core (FastAPI would validate the records again first).
    parts = [
        _BURST_LIST.dump_json(bursts_for_viewer(session=session, bursts=chunk, clinic_ids=visible))[
            1:-1
        ]
        for chunk in burst_record_chunks(session=session, clinic_ids=ids, kind=kind)
        if chunk
    ]
    return Response(b"[" + b",".join(parts) + b"]", media_type="application/json")


# Chart geometry (SVG user units; the SVG scales to the page width).
CHART_DAYS = 180
WIDTH, HEIGHT = 900, 220
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 28, 30
MIN_BAND = 6.0  # a one-day burst in a 180-day chart stays visible
# Burst labels above the plot: 13-unit bold text (style.css). Each row is 22 units: a CJK
# font's line box is about 1.45 em (19 units) and the chart is scaled down on a phone. A label
# that would touch another goes one row up, so labels never overlap however close the bursts.
MARKER_ROW = 22
MARKER_GAP = 6


def _label_width(label: str) -> float:
    """A generous width of the label in chart units: full width for Japanese and ▼."""
    return sum(13.0 if ord(c) > 0x2000 else 8.0 for c in label)


def _stack_markers(markers: list[Marker]) -> int:
    """Give each marker a row (0 = nearest the plot) so that no two labels in a row overlap,
    keeping every label inside the chart; returns the number of rows."""
    rows: list[float] = []  # right edge of the last label in each row
    for marker in sorted(markers, key=lambda m: m.x):
        half = _label_width("▼" + marker.label) / 2
        marker.x = round(min(max(marker.x, LEFT + half), WIDTH - RIGHT - half), 2)
        free = [i for i, right in enumerate(rows) if marker.x - half >= right + MARKER_GAP]
        row = free[0] if free else len(rows)
        if not free:
            rows.append(0.0)
        rows[row] = marker.x + half
        marker.y = row  # turned into a coordinate once the plot's top is known
    return len(rows)


@dataclass
class Bar:
    x: float
    width: float
    y: float
    height: float
    flagged_y: float
    flagged_height: float
    title: str


@dataclass
class Band:
    x: float
    width: float
    kind: str
    title: str


@dataclass
class Marker:
    x: float
    label: str
    y: float = 0.0


@dataclass
class Tick:
    x: float
    label: str


@dataclass
class Chart:
    width: int
    height: int
    plot_top: int
    plot_bottom: int
    left: int
    right: int
    bars: list[Bar]
    bands: list[Band]
    markers: list[Marker]
    ticks: list[Tick]
    y_max: int
    total: int
    flagged: int
    summary: str


def _nice_max(value: int) -> int:
    """The y axis top: the first of 4, 5, 8, 10, 20, 40, 50, 80, 100, … not below ``value``."""
    nice = sorted(m * 10**e for e in range(6) for m in (1, 2, 4, 5, 8))
    return next((c for c in nice if c >= max(value, 4)), value)


def build_chart(timeline: ClinicTimeline) -> Chart:
    days = timeline.days
    n = max(len(days), 1)
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    step = plot_w / n
    y_max = _nice_max(max((d.reviews for d in days), default=0))
    bottom = TOP + plot_h
    index = {d.day: i for i, d in enumerate(days)}
    first: date = days[0].day if days else date.today()
    bars = []
    for i, d in enumerate(days):
        h = plot_h * d.reviews / y_max
        fh = plot_h * d.flagged / y_max
        bars.append(
            Bar(
                x=round(LEFT + i * step + step * 0.1, 2),
                width=round(step * 0.8, 2),
                y=round(bottom - h, 2),
                height=round(h, 2),
                flagged_y=round(bottom - fh, 2),
                flagged_height=round(fh, 2),
                title=f"{d.day.month}月{d.day.day}日: 新着 {d.reviews} 件（要確認 {d.flagged} 件）",
            )
        )
    bands = []
    for burst in timeline.bursts:
        start = burst.start.astimezone(JST).date()
        end = (burst.end - timedelta(microseconds=1)).astimezone(JST).date()
        lo = index.get(max(start, first), 0)
        hi = index.get(min(end, days[-1].day), n - 1) if days else 0
        if hi < lo:
            continue
        width = max((hi - lo + 1) * step, MIN_BAND)
        x = LEFT + (lo + hi + 1) * step / 2 - width / 2
        bands.append(
            Band(
                x=round(x, 2),
                width=round(width, 2),
                kind=burst.kind,
                title=f"{BURST_KIND_JA.get(burst.kind, burst.kind)}: {burst_days(burst)}",
            )
        )
    # One label above each shaded stretch, naming the kinds found there.
    labels: dict[float, list[str]] = {}
    for band in bands:
        centre = round(band.x + band.width / 2, 2)
        short = KIND_SHORT.get(band.kind, band.kind)
        if short not in labels.setdefault(centre, []):
            labels[centre].append(short)
    markers = [Marker(x=x, label="・".join(kinds)) for x, kinds in sorted(labels.items())]
    # Rows of labels beyond the first push the whole plot down.
    extra = max(_stack_markers(markers) - 1, 0) * MARKER_ROW
    for marker in markers:
        marker.y = TOP + extra - 8 - marker.y * MARKER_ROW
    if extra:
        for bar in bars:
            bar.y, bar.flagged_y = bar.y + extra, bar.flagged_y + extra
    ticks = [
        Tick(x=round(LEFT + i * step + step / 2, 2), label=f"{d.day.month}/{d.day.day}")
        for i, d in enumerate(days)
        if d.day.day == 1
    ]
    total = sum(d.reviews for d in days)
    flagged = sum(d.flagged for d in days)
    summary = (
        f"過去{n}日間の新着口コミ {total} 件（うち要確認 {flagged} 件）、"
        f"急増・集中投稿の検知 {len(bands)} 件"
    )
    return Chart(
        width=WIDTH,
        height=HEIGHT + extra,
        plot_top=TOP + extra,
        plot_bottom=bottom + extra,
        left=LEFT,
        right=WIDTH - RIGHT,
        bars=bars,
        bands=bands,
        markers=markers,
        ticks=ticks,
        y_max=y_max,
        total=total,
        flagged=flagged,
        summary=summary,
    )


def burst_days(burst: object) -> str:
    """The burst's Japan-time days, last day inclusive ("5月1日〜5月2日")."""
    start = burst.start.astimezone(JST)  # type: ignore[attr-defined]
    # Day windows end at the next midnight (exclusive); other kinds at their last review.
    end = (burst.end - timedelta(microseconds=1)).astimezone(JST)  # type: ignore[attr-defined]
    return ja_day_range(start.date(), max(start.date(), end.date()))


@page_router.get("/clinics/{clinic_id}", response_class=HTMLResponse)
def clinic_page(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    clinic_id: ClinicIdPath,
) -> HTMLResponse:
    clinic = session.get(Clinic, clinic_id)
    if clinic is None or not can_see_clinic(user, clinic_id):
        return not_found_page(request, "この医療機関は登録されていません。")
    timeline = clinic_timeline(session=session, clinic_id=clinic_id, days=CHART_DAYS)
    bursts = list_bursts(session=session, clinic_ids=[clinic_id])
    return templates.TemplateResponse(
        request,
        "clinic.html",
        {
            "clinic": clinic,
            "chart": build_chart(timeline),
            "bursts": bursts,
            "kind_ja": BURST_KIND_JA,
            "burst_days": burst_days,
            "nav": "clinics",
        },
    )


def _burst_page(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    burst_id: int,
    *,
    saved: int | None = None,
    error: str | None = None,
    form: dict[str, str] | None = None,
    code: int = 200,
) -> HTMLResponse:
    burst = session.get(Burst, burst_id)
    clinic_ids = visible_clinic_ids(user)
    if burst is None or not can_see_clinic(user, burst.clinic_id):
        return not_found_page(request, "この集中投稿は記録されていません。")
    member_ids = burst_member_ids(session=session, burst_id=burst_id, clinic_ids=clinic_ids)
    reviews = [
        r
        for r in (
            get_review(session=session, review_id=rid, clinic_ids=clinic_ids) for rid in member_ids
        )
        if r is not None
    ]
    clinic = session.get(Clinic, burst.clinic_id)
    return templates.TemplateResponse(
        request,
        "burst.html",
        {
            "burst": burst,
            "clinic": clinic,
            "days": burst_days(burst),
            "reviews": reviews,
            "undecided": sum(1 for r in reviews if r.decision is None),
            "can_decide": user.role in DECIDING_ROLES,
            "saved": saved,
            "error": error,
            "form": form or {"decision": "", "category": "", "note": ""},
            "note_max_length": NOTE_MAX_LENGTH,
            "nav": "queue",
        },
        status_code=code,
    )


@page_router.get("/bursts/{burst_id}", response_class=HTMLResponse)
def burst_page(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    burst_id: Annotated[DbId, Path(description="A burst id.")],
    saved: Annotated[int | None, Query(ge=0, le=100_000)] = None,
) -> HTMLResponse:
    """A burst's (or near-duplicate cluster's) reviews, with one form deciding them all."""
    return _burst_page(request, session, user, burst_id, saved=saved)


@page_router.post("/bursts/{burst_id}/decision", response_class=HTMLResponse)
def decide_burst_form(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    burst_id: Annotated[DbId, Path(description="A burst id.")],
    decision: Annotated[str, Form(max_length=16)] = "",
    category: Annotated[str, Form(max_length=32)] = "",
    note: Annotated[str, Form(max_length=NOTE_MAX_LENGTH * 4)] = "",
) -> Response:
    """The same decision for every member review the user may see; each is recorded and
    audited on its own (kuchikomi.services.group_decisions)."""
    form = {"decision": decision, "category": category, "note": note}

    def refuse(message: str, code: int) -> HTMLResponse:
        return _burst_page(request, session, user, burst_id, error=message, form=form, code=code)

    burst = session.get(Burst, burst_id)
    if burst is None or not can_see_clinic(user, burst.clinic_id):
        return not_found_page(request, "この集中投稿は記録されていません。")
    if user.role not in DECIDING_ROLES:
        return refuse("判断を記録できるのは管理者と確認担当者です。", status.HTTP_403_FORBIDDEN)
    kept_category = (category or None) if decision == "harmful" else None
    try:
        body = DecisionCreate.model_validate(
            {"decision": decision, "category": kept_category, "note": note}
        )
    except ValidationError as exc:
        return refuse(form_error(exc), status.HTTP_422_UNPROCESSABLE_CONTENT)
    clinic_ids = visible_clinic_ids(user)
    member_ids = burst_member_ids(session=session, burst_id=burst_id, clinic_ids=clinic_ids)
    recorded = record_group_decision(
        session=session, review_ids=member_ids, body=body, user=user, clinic_ids=clinic_ids
    )
    session.commit()
    return RedirectResponse(
        f"/bursts/{burst_id}?saved={recorded}", status_code=status.HTTP_303_SEE_OTHER
    )
