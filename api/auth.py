"""Who is asking: login cookie or bearer token, roles, clinic scoping and CSRF.

Other modules code against this interface:

- ``CurrentUser`` — the logged-in :class:`models.accounts.User`. Without a login the JSON API
  answers 401 and pages redirect to ``/login``.
- ``require_role("admin", …)`` — a dependency refusing other roles with
  :class:`kuchikomi.errors.Forbidden` (403, answered by the domain error handler).
- ``visible_clinic_ids(user)`` — ``None`` for every clinic (admin, reviewer), else the clinic
  user's clinics. Another clinic's objects must answer 404, exactly like objects that do not
  exist, so that a clinic user cannot even learn which ids exist.

Authentication: ``Authorization: Bearer <token>`` (scripts; see ``kuchikomi token create``), or
the session cookie set by the login page (browsers). CSRF: a request authenticated by the cookie
with an unsafe method (POST, PUT, PATCH, DELETE) must carry the session's CSRF token, in the
``X-CSRF-Token`` header or in a ``csrf_token`` form field. Bearer requests need none: browsers
never attach that header on their own.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.deps import SessionDep
from kuchikomi.errors import Forbidden
from kuchikomi.services.accounts import session_for_cookie, user_for_token
from kuchikomi.services.visibility import STAFF_ROLES
from models.accounts import User

SESSION_COOKIE = "kuchikomi_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class AuthError(Exception):
    """Refused for want of a login (401) or of the session's CSRF token (403).

    These say nothing about what the user may do — who they are is not established, or the
    request may not be theirs — so they are HTTP's own business, not the domain's
    (kuchikomi/errors.py): :func:`auth_error_handler` answers JSON under ``/api/`` (401 with
    ``WWW-Authenticate``), a redirect to the login page or a Japanese error page elsewhere. A
    known user refused by their role raises :class:`~kuchikomi.errors.Forbidden` instead.
    """

    def __init__(self, status_code: int, detail: str, message_ja: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.message_ja = message_ja


def _login_required() -> AuthError:
    return AuthError(401, "login required", "ログインしてください。")


def is_api_request(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def client_ip(request: Request) -> str:
    # Behind a proxy uvicorn's --proxy-headers/--forwarded-allow-ips puts the real address here.
    return request.client.host if request.client else "unknown"


def _authenticate(request: Request, session: SessionDep) -> User:
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        user = (
            user_for_token(session=session, token=token.strip())
            if scheme.lower() == "bearer" and token.strip()
            else None
        )
        if user is None:
            raise AuthError(401, "invalid or revoked bearer token", "認証に失敗しました。")
        request.state.user = user
        request.state.auth_via = "bearer"
        request.state.csrf_token = None
        return user
    cookie = request.cookies.get(SESSION_COOKIE)
    login = session_for_cookie(session=session, cookie_value=cookie) if cookie else None
    if login is None:
        raise _login_required()
    request.state.user = login.user
    request.state.auth_via = "cookie"
    request.state.csrf_token = login.csrf_token
    return login.user


async def _submitted_csrf_token(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.headers.get("content-type", "").startswith(_FORM_TYPES):
        # Starlette caches the parsed form, so the route's own Form(...) parameters still work.
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


# Declared for the OpenAPI description only (the "Authorize" button of /docs); the header itself
# is read in _authenticate, which also accepts the session cookie.
_bearer_scheme = HTTPBearer(
    auto_error=False,
    description="A token from `kuchikomi token create`; or log in at /login (session cookie).",
)


async def current_user(
    request: Request,
    session: SessionDep,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)] = None,
) -> User:
    user = await run_in_threadpool(_authenticate, request, session)
    if request.method not in SAFE_METHODS and request.state.auth_via == "cookie":
        submitted = await _submitted_csrf_token(request)
        expected: str = request.state.csrf_token
        if not submitted or not secrets.compare_digest(submitted.encode(), expected.encode()):
            raise AuthError(
                403,
                f"CSRF token missing or wrong: send the {CSRF_HEADER} header "
                "(or use a bearer token)",
                "フォームの有効期限が切れたか、不正な送信です。ページを開き直してから、"
                "もう一度送信してください。",
            )
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require_role(*roles: str) -> Callable[[User], User]:
    """A dependency: the current user if their role is one of ``roles``, else
    :class:`~kuchikomi.errors.Forbidden` (403).

    Use as ``user: Annotated[User, Depends(require_role("admin"))]`` or in
    ``dependencies=[Depends(require_role("admin"))]``.
    """

    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Forbidden(
                f"this needs the role {' or '.join(roles)}", "この操作を行う権限がありません。"
            )
        return user

    return check


AdminUser = Annotated[User, Depends(require_role("admin"))]
StaffUser = Annotated[User, Depends(require_role(*STAFF_ROLES))]


def visible_clinic_ids(user: User) -> list[int] | None:
    """``None`` = every clinic (admin, reviewer); else the ids of the clinic user's clinics."""
    if user.role in STAFF_ROLES:
        return None
    return user.clinic_ids


def can_see_clinic(user: User, clinic_id: int) -> bool:
    visible = visible_clinic_ids(user)
    return visible is None or clinic_id in visible


def auth_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthError)
    if is_api_request(request):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)
    if exc.status_code == 401 and request.method in SAFE_METHODS:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    from api.templating import error_page

    title = "ログインが必要です" if exc.status_code == 401 else "実行できません"
    return error_page(request, exc.status_code, title, exc.message_ja)
