"""``/docs`` and ``/openapi.json``: Swagger UI served from the installed swagger-ui-bundle-v2
package, and the API description — both behind a login like every other route.

FastAPI's built-in page loads Swagger UI from a CDN and starts it with an inline script; the
machines this runs on may be offline, and our CSP forbids inline scripts. So the assets come from
``/static/swagger-ui/`` and the page is started by ``/static/docs.js``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.auth import CurrentUser
from api.templating import templates

router = APIRouter(include_in_schema=False)

OPENAPI_URL = "/openapi.json"


@router.get(OPENAPI_URL)
def openapi_spec(request: Request, user: CurrentUser) -> dict[str, Any]:
    return request.app.openapi()  # type: ignore[no-any-return]


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request, user: CurrentUser) -> HTMLResponse:
    return templates.TemplateResponse(request, "docs.html", {"openapi_url": OPENAPI_URL})
