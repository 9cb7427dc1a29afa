"""The FastAPI application factory: JSON API, staff web UI, health check and API docs.

``create_app()`` builds a fresh app with no process-local state beyond the engine that
``models.db`` keeps per process, so several API workers behind a proxy agree on everything
(docs/architecture.md). Every route but ``/login`` and ``/healthz`` needs a login
(see :mod:`api.auth`).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp
from swagger_ui_bundle import swagger_ui_path

from api.auth import AuthError, auth_error_handler
from api.errors import domain_error_handler, request_validation_error_handler
from api.routers import (
    bursts,
    casework,
    clinics,
    dashboard,
    decisions,
    docs,
    evidence,
    export,
    health,
    login,
    pages,
    reviews,
    staff_pages,
    takedown,
)
from api.security import SecurityHeadersMiddleware
from api.templating import STATIC_DIR
from kuchikomi.errors import DomainError

DESCRIPTION = """\
JSON API of kuchikomi-guard. The system finds, explains and prepares; it never removes or hides
a review by itself. A flagged review is a candidate for a person to check, not a verdict.

Lists are keyset-paginated: pass `next_cursor` back as `cursor` until it is null.
"""


class App(FastAPI):
    """FastAPI with the security headers outside everything else.

    ``add_middleware`` puts a middleware inside Starlette's ServerErrorMiddleware, so the 500 page
    that middleware writes would go out without a Content-Security-Policy; wrapping the built
    stack puts the headers on every answer, errors included.
    """

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeadersMiddleware(super().build_middleware_stack())


def create_app() -> FastAPI:
    app = App(
        title="kuchikomi-guard",
        version="0.1.0",
        description=DESCRIPTION,
        # /docs is served by api.routers.docs from local files; ReDoc would need a CDN.
        docs_url=None,
        redoc_url=None,
        # Served by api.routers.docs behind a login, like every other route.
        openapi_url=None,
    )
    app.add_exception_handler(AuthError, auth_error_handler)
    app.add_exception_handler(RequestValidationError, request_validation_error_handler)
    # Every service error, once (kuchikomi/errors.py): 404/403/409/422, JSON or a Japanese page.
    app.add_exception_handler(DomainError, domain_error_handler)
    app.mount("/static/swagger-ui", StaticFiles(directory=swagger_ui_path), name="swagger-ui")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in (clinics, reviews, evidence, takedown, health, docs, login, pages, casework):
        app.include_router(module.router)
    app.include_router(login.me_router)
    app.include_router(bursts.router)
    app.include_router(bursts.page_router)
    app.include_router(decisions.router)
    app.include_router(staff_pages.router)
    # The dashboard and the CSV export.
    app.include_router(export.router)
    app.include_router(dashboard.router)
    return app
