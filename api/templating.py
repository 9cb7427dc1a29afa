"""The Jinja2 environment of the web UI: autoescape on for every template, Japanese formatting.

Autoescape is forced on regardless of file extension, because every page shows review text,
author names and URLs written by strangers. Nothing in a template may use ``|safe``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request, status
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from crawler.urls import http_url
from kuchikomi.japanese import (
    BURST_KIND_JA,
    CATEGORY_JA,
    DECISION_JA,
    HEALTH_STATUS_JA,
    LABEL_JA,
    ja_date,
    ja_datetime,
    site_label,
)

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        ja_date=ja_date,
        ja_datetime=ja_datetime,
        percent=percent,
        http_url=http_url,
        category_ja=lambda c: CATEGORY_JA.get(c, c) if c else "—",
        label_ja=lambda label: LABEL_JA.get(label, label) if label else "未分類",
        decision_ja=lambda d: DECISION_JA.get(d, d) if d else "未判断",
        site_ja=site_label,
    )
    env.globals["CATEGORY_JA"] = CATEGORY_JA
    env.globals["DECISION_JA"] = DECISION_JA
    env.globals["BURST_KIND_JA"] = BURST_KIND_JA
    env.globals["HEALTH_STATUS_JA"] = HEALTH_STATUS_JA
    return env


def _account_context(request: Request) -> dict[str, Any]:
    """The logged-in user and the session's CSRF token for forms (set by api.auth), if any."""
    return {
        "current_user": getattr(request.state, "user", None),
        "csrf_token": getattr(request.state, "csrf_token", None),
    }


templates = Jinja2Templates(env=_environment(), context_processors=[_account_context])


def error_page(request: Request, code: int, title: str, message: str) -> HTMLResponse:
    """The Japanese error page (``error.html``) with an HTTP status."""
    return templates.TemplateResponse(
        request, "error.html", {"title": title, "message": message}, status_code=code
    )


def not_found_page(request: Request, message: str) -> HTMLResponse:
    """404 with the error page: ``message`` says what is not there (「この口コミは…」)."""
    return error_page(request, status.HTTP_404_NOT_FOUND, "見つかりません", message)
