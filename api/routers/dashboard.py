"""``/dashboard``: per-clinic counts, the weekly flagged trend and open takedown cases.

A clinic user sees only their own clinics. The trend chart is inline SVG drawn from attributes
computed here (no script, no style attribute: both would break the CSP), with the same figures
in a table for screen readers and for copying.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.auth import CurrentUser, visible_clinic_ids
from api.deps import SessionDep
from api.templating import templates
from kuchikomi.services.dashboard import (
    RECENT_DAYS,
    TREND_WEEKS,
    TrendWeek,
    clinic_summaries,
    flagged_trend,
)

router = APIRouter(include_in_schema=False)

CHART_WIDTH = 720
CHART_HEIGHT = 180
CHART_TOP = 16  # room for the value above the tallest bar
CHART_BOTTOM = 24  # room for the week labels


@dataclass
class Bar:
    week: TrendWeek
    x: float
    width: float
    reviews_y: float
    reviews_height: float
    flagged_y: float
    flagged_height: float
    label: str


def _bars(trend: list[TrendWeek]) -> list[Bar]:
    peak = max((w.reviews for w in trend), default=0) or 1
    slot = CHART_WIDTH / max(len(trend), 1)
    plot = CHART_HEIGHT - CHART_TOP - CHART_BOTTOM
    baseline = CHART_HEIGHT - CHART_BOTTOM
    bars = []
    for i, week in enumerate(trend):
        reviews_h = plot * week.reviews / peak
        flagged_h = plot * week.flagged / peak
        bars.append(
            Bar(
                week=week,
                x=round(i * slot + slot * 0.15, 1),
                width=round(slot * 0.7, 1),
                reviews_y=round(baseline - reviews_h, 1),
                reviews_height=round(reviews_h, 1),
                flagged_y=round(baseline - flagged_h, 1),
                flagged_height=round(flagged_h, 1),
                label=f"{week.start.month}/{week.start.day}",
            )
        )
    return bars


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    scope = visible_clinic_ids(user)
    summaries = clinic_summaries(session=session, clinic_ids=scope)
    trend = flagged_trend(session=session, clinic_ids=scope)
    totals = {
        "clinics": len(summaries),
        "reviews": sum(s.reviews for s in summaries),
        "flagged": sum(s.flagged for s in summaries),
        "flagged_recent": sum(s.flagged_recent for s in summaries),
        "bursts": sum(s.bursts for s in summaries),
        "open_cases": sum(s.open_cases for s in summaries),
    }
    return templates.TemplateResponse(
        request,
        "dashboard.html",
        {
            "nav": "dashboard",
            "summaries": summaries,
            "totals": totals,
            "trend": trend,
            "bars": _bars(trend),
            "chart": {"width": CHART_WIDTH, "height": CHART_HEIGHT, "bottom": CHART_BOTTOM},
            "weeks": TREND_WEEKS,
            "recent_days": RECENT_DAYS,
        },
    )
