"""``/docs``: Swagger UI served from the installed swagger-ui-bundle-v2 package.

FastAPI's built-in page loads Swagger UI from a CDN and starts it with an inline script; the
machines this runs on may be offline, and our CSP forbids inline scripts. So the assets come from
``/static/swagger-ui/`` and the page is started by ``/static/docs.js``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.templating import templates

router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "docs.html", {"openapi_url": request.app.openapi_url}
    )
