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


# Encoded once: these go out with every answer.
_ADDED = [(b"content-security-policy", CSP.encode())] + [
    (name.lower().encode(), value.encode()) for name, value in _COMMON.items()
]
_ADDED_NAMES = frozenset(name for name, _ in _ADDED)
_NO_STORE = (b"cache-control", b"no-store")


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
                # Ours replace a route's own; a route's Cache-Control is kept. On the raw list:
                # Starlette's MutableHeaders searched the whole list once per header set.
                headers = [
                    (name, value)
                    for name, value in message.get("headers", ())
                    if name.lower() not in _ADDED_NAMES
                ]
                cached = any(name.lower() == b"cache-control" for name, _ in headers)
                headers += _ADDED
                if not cached and not _is_static(scope["path"]):
                    headers.append(_NO_STORE)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
