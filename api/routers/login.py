"""``/login`` and ``/logout``: the browser login with a session cookie.

The login form itself is protected against CSRF (login CSRF would sign a victim into an
attacker's account) by a double-submit token: a random value in a short-lived cookie that the
form must echo. After login the session's own CSRF token takes over (see :mod:`api.auth`).
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from api.auth import SESSION_COOKIE, CurrentUser, client_ip, visible_clinic_ids
from api.deps import SessionDep
from api.errors import domain_status
from api.templating import templates
from kuchikomi.services.accounts import (
    SESSION_LIFETIME,
    ThrottledError,
    check_password,
    end_session,
    start_session,
)

router = APIRouter(include_in_schema=False)

LOGIN_CSRF_COOKIE = "kuchikomi_login_csrf"


def safe_next(value: str | None) -> str:
    """Only a path on this site: never ``//evil.example`` or ``https://…`` (open redirect)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    if any(c in value for c in "\r\n\\"):
        return "/"
    return value


def _is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def _login_form(
    request: Request, *, next_url: str, email: str = "", error: str | None = None, code: int = 200
) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = templates.TemplateResponse(
        request,
        "login.html",
        {"login_csrf": token, "next_url": next_url, "email": email, "error": error},
        status_code=code,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=_is_https(request),
        path="/login",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> HTMLResponse:  # noqa: A002
    return _login_form(request, next_url=safe_next(next))


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: SessionDep,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",  # noqa: A002
) -> Response:
    next_url = safe_next(next)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not expected or not secrets.compare_digest(csrf_token.encode(), expected.encode()):
        return _login_form(
            request,
            next_url=next_url,
            email=email,
            error="フォームの有効期限が切れました。もう一度ログインしてください。",
            code=status.HTTP_403_FORBIDDEN,
        )
    try:
        user = check_password(
            session=session, email=email, password=password, ip=client_ip(request)
        )
    except ThrottledError as exc:
        # Said on the login form, which keeps the email, rather than on an error page.
        return _login_form(
            request,
            next_url=next_url,
            email=email,
            error=exc.message_ja,
            code=domain_status(exc)[0],
        )
    if user is None:
        session.commit()  # the failed attempt counts towards throttling
        return _login_form(
            request,
            next_url=next_url,
            email=email,
            error="メールアドレスまたはパスワードが正しくありません。",
            code=status.HTTP_401_UNAUTHORIZED,
        )
    new = start_session(session=session, user=user, ip=client_ip(request))
    session.commit()
    response = RedirectResponse(next_url, status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE,
        new.cookie_value,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=_is_https(request),
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        end_session(session=session, cookie_value=cookie)
        session.commit()
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


class Me(BaseModel):
    id: int
    email: str
    role: str
    clinic_ids: list[int] | None
    # Send it back as X-CSRF-Token on unsafe requests made with the session cookie; null when
    # authenticated by a bearer token (which needs none).
    csrf_token: str | None


me_router = APIRouter(prefix="/api/v1", tags=["accounts"])


@me_router.get("/me", response_model=Me, summary="Who am I (and the CSRF token of my session)")
def me(request: Request, user: CurrentUser) -> Me:
    return Me(
        id=user.id,
        email=user.email,
        role=user.role,
        clinic_ids=visible_clinic_ids(user),
        csrf_token=request.state.csrf_token,
    )
