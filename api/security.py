"""Security headers on every response: a strict Content-Security-Policy and friends.

Every response but the static assets also says ``Cache-Control: no-store``: pages and API answers
carry review text, names and decisions, which must not stay in a shared or browser cache after the
staff member has left. Routes that set their own Cache-Control keep it.

Review text is untrusted (anyone can post a review), so besides escaping it everywhere the pages
forbid inline scripts, plugins, framing and foreign origins: an escaping mistake would still not
run a script. The API docs page loads Swagger UI from our own static files and runs under the
same policy (checked in headless Chromium: no violations while rendering and expanding routes).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

_COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Review pages link out to portals; do not tell them which review staff were looking at.
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _is_static(path: str) -> bool:
    # Stylesheets, scripts and Swagger UI's files hold nothing private; let browsers cache them.
    return path.startswith("/static/")


class SecurityHeadersMiddleware:
    """Pure ASGI middleware (no response buffering) adding the headers above.

    It must wrap the whole application, error handling included (see ``api.app.App``), so that a
    500 answer carries the same headers as any page.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = CSP
                for name, value in _COMMON.items():
                    headers[name] = value
                if "cache-control" not in headers and not _is_static(scope["path"]):
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
