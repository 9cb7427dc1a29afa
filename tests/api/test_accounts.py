"""Accounts: every route needs a login, the login form, cookies, CSRF, throttling, bearer tokens."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.app import create_app
from kuchikomi.services.accounts import (
    MAX_FAILURES_PER_ACCOUNT,
    MAX_FAILURES_PER_IP,
    create_token,
    create_user,
)
from models import AuditEntry, Clinic, LoginAttempt, LoginSession
from tests.api.conftest import TEST_PASSWORD, LoggedInClient, LoginAs

PUBLIC_PATHS = {"/login", "/healthz"}


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def _all_routes(routes: list[Any]) -> Iterator[Any]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "effective_route_contexts"):  # FastAPI's included routers
            yield from route.effective_route_contexts()


def _protected_routes() -> list[tuple[str, str]]:
    routes = []
    for route in _all_routes(create_app().routes):
        if route.path not in PUBLIC_PATHS:
            for method in sorted(set(route.methods) - {"HEAD"}):
                routes.append((method, route.path))
    return routes


def test_the_app_has_routes_to_protect() -> None:
    paths = {path for _, path in _protected_routes()}
    assert {"/", "/reviews/{review_id}", "/api/v1/reviews", "/api/v1/clinics", "/docs"} <= paths
    assert "/openapi.json" in paths


@pytest.mark.parametrize(("method", "path"), _protected_routes())
def test_anonymous_requests_are_refused_everywhere(
    client: TestClient, session: Session, method: str, path: str
) -> None:
    before = session.scalar(select(func.count(AuditEntry.id)))
    response = client.request(method, _concrete(path), follow_redirects=False)
    if path.startswith("/api/"):
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"
    elif method == "GET":
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")
    else:
        assert response.status_code == 401
    assert session.scalar(select(func.count(AuditEntry.id))) == before


def test_login_and_health_stay_public(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    page = client.get("/login")
    assert page.status_code == 200
    assert "ログイン" in page.text and 'name="password"' in page.text


def _login(client: TestClient, email: str, password: str, next_url: str = "/") -> object:
    form = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token[1], "next": next_url},
        follow_redirects=False,
    )


def test_login_sets_a_secure_session_cookie_and_returns_to_the_page(
    client: TestClient, session: Session
) -> None:
    create_user(session=session, email="Staff@Example.jp", role="reviewer", password=TEST_PASSWORD)
    session.commit()
    assert client.get("/clinics", follow_redirects=False).headers["location"] == (
        "/login?next=%2Fclinics"
    )

    response = _login(client, "staff@example.jp", TEST_PASSWORD, next_url="/clinics")

    assert response.status_code == 303
    assert response.headers["location"] == "/clinics"
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("kuchikomi_session=")
    )
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
    # The test server speaks plain http; over https the cookie is marked Secure (next test).
    assert "secure" not in flags
    assert client.get("/clinics").status_code == 200
    # Only a digest of the cookie is stored: the table is useless to a thief.
    value = cookie.split(";")[0].split("=", 1)[1]
    stored = session.scalars(select(LoginSession.token_sha256)).all()
    assert len(stored) == 1 and value not in stored[0]


def test_cookie_is_secure_over_https(env: object, session: Session) -> None:
    create_user(session=session, email="s@example.jp", role="reviewer", password=TEST_PASSWORD)
    session.commit()
    with TestClient(create_app(), base_url="https://testserver") as https_client:
        response = _login(https_client, "s@example.jp", TEST_PASSWORD)
    assert response.status_code == 303
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("kuchikomi_session=")
    )
    assert "secure" in {part.strip().lower() for part in cookie.split(";")}


def test_wrong_password_and_unknown_email_answer_alike(
    client: TestClient, session: Session
) -> None:
    create_user(session=session, email="a@example.jp", role="admin", password=TEST_PASSWORD)
    session.commit()
    wrong = _login(client, "a@example.jp", "not the password")
    unknown = _login(client, "nobody@example.jp", TEST_PASSWORD)
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "メールアドレスまたはパスワードが正しくありません" in response.text
        assert "kuchikomi_session=" not in response.headers.get("set-cookie", "")
    assert client.get("/api/v1/me").status_code == 401


def test_login_form_without_its_csrf_token_is_refused(client: TestClient, session: Session) -> None:
    create_user(session=session, email="a@example.jp", role="admin", password=TEST_PASSWORD)
    session.commit()
    response = client.post(
        "/login",
        data={"email": "a@example.jp", "password": TEST_PASSWORD, "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert session.scalar(select(func.count(LoginSession.id))) == 0


def test_open_redirects_are_not_followed(client: TestClient, session: Session) -> None:
    create_user(session=session, email="a@example.jp", role="admin", password=TEST_PASSWORD)
    session.commit()
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = _login(client, "a@example.jp", TEST_PASSWORD, next_url=target)
        assert response.headers["location"] == "/", target


def test_too_many_failures_lock_the_account_even_with_the_right_password(
    client: TestClient, session: Session
) -> None:
    create_user(session=session, email="a@example.jp", role="admin", password=TEST_PASSWORD)
    session.commit()
    for _ in range(MAX_FAILURES_PER_ACCOUNT):
        assert _login(client, "a@example.jp", "guess").status_code == 401

    response = _login(client, "a@example.jp", TEST_PASSWORD)

    assert response.status_code == 429
    assert "一時的にログインを止めています" in response.text
    assert session.scalar(select(func.count(LoginSession.id))) == 0
    # The counters are rows in the database, shared by every API worker.
    assert session.scalar(select(func.count(LoginAttempt.id))) == MAX_FAILURES_PER_ACCOUNT


def test_too_many_failures_from_one_address_lock_that_address(
    client: TestClient, session: Session
) -> None:
    create_user(session=session, email="a@example.jp", role="admin", password=TEST_PASSWORD)
    session.commit()
    # Spread over many accounts, so only the per-address limit can trigger.
    for i in range(MAX_FAILURES_PER_IP):
        assert _login(client, f"guess{i}@example.jp", "guess").status_code == 401
    assert _login(client, "a@example.jp", TEST_PASSWORD).status_code == 429


def test_cookie_requests_need_the_csrf_header_for_unsafe_methods(
    admin_client: LoggedInClient, session: Session
) -> None:
    body = {"name": "あおば内科", "urls": ["https://reviews.example.jp/c/1"]}
    token = admin_client.headers.pop("X-CSRF-Token")

    missing = admin_client.post("/api/v1/clinics", json=body)
    wrong = admin_client.post("/api/v1/clinics", json=body, headers={"X-CSRF-Token": "x" * 43})

    for response in (missing, wrong):
        assert response.status_code == 403
        assert "CSRF" in response.json()["detail"]
    assert session.scalar(select(func.count(Clinic.id))) == 0
    ok = admin_client.post("/api/v1/clinics", json=body, headers={"X-CSRF-Token": token})
    assert ok.status_code == 201


def test_logout_form_without_csrf_token_is_refused_and_keeps_the_session(
    admin_client: LoggedInClient,
) -> None:
    del admin_client.headers["X-CSRF-Token"]
    refused = admin_client.post("/logout", data={"csrf_token": "forged"})
    assert refused.status_code == 403
    assert "不正な送信" in refused.text
    assert admin_client.get("/api/v1/me").status_code == 200

    page = admin_client.get("/").text
    assert f'name="csrf_token" value="{admin_client.csrf_token}"' in page  # the logout form
    done = admin_client.post(
        "/logout", data={"csrf_token": admin_client.csrf_token}, follow_redirects=False
    )
    assert done.status_code == 303
    assert admin_client.get("/api/v1/me").status_code == 401


def test_bearer_tokens_work_without_csrf_and_are_stored_hashed(
    client: TestClient, session: Session
) -> None:
    user = create_user(
        session=session, email="bot@example.jp", role="admin", password=TEST_PASSWORD
    )
    token = create_token(session=session, user=user)
    session.commit()
    auth = {"Authorization": f"Bearer {token}"}

    me = client.get("/api/v1/me", headers=auth).json()
    created = client.post(
        "/api/v1/clinics",
        json={"name": "a", "urls": ["https://reviews.example.jp/c/2"]},
        headers=auth,
    )

    assert me["email"] == "bot@example.jp" and me["csrf_token"] is None
    assert created.status_code == 201
    bad = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}x"})
    assert bad.status_code == 401
    actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["user.create", "token.create", "clinic.create"]
    assert token not in str(session.scalars(select(AuditEntry.after)).all())


def test_only_admins_register_clinics(login_as: LoginAs, session: Session) -> None:
    body = {"name": "a", "urls": ["https://reviews.example.jp/c/3"]}
    for role in ("reviewer", "clinic"):
        clinic_ids = [] if role != "clinic" else [_clinic(session)]
        response = login_as(role, clinic_ids=clinic_ids).post("/api/v1/clinics", json=body)
        assert response.status_code == 403, role
    assert session.scalar(select(func.count(Clinic.id))) == 1


def _clinic(session: Session) -> int:
    clinic = Clinic(name="既存クリニック")
    session.add(clinic)
    session.commit()
    return clinic.id


def test_clinic_users_list_only_their_clinics(login_as: LoginAs, session: Session) -> None:
    mine, other = _clinic(session), _clinic(session)
    clinic_client = login_as("clinic", clinic_ids=[mine])
    assert [c["id"] for c in clinic_client.get("/api/v1/clinics").json()] == [mine]
    assert clinic_client.get("/api/v1/me").json()["clinic_ids"] == [mine]
    assert f"<td>{other}</td>" not in clinic_client.get("/clinics").text
