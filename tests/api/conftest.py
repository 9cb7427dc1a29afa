"""The real app behind Starlette's TestClient, on the test database of the ``env`` fixture.

``client`` is anonymous; ``admin_client``, ``reviewer_client`` and ``login_as(role, clinic_ids)``
are logged in through the real login form. They all share one app per test session.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app


@pytest.fixture(scope="session")
def api_app() -> FastAPI:
    """The app behind every test client. ``create_app()`` keeps no state of its own (settings and
    database are read per request), and FastAPI prepares a route at its first request in each app,
    which would otherwise cost more than many a test."""
    return create_app()


@pytest.fixture
def client(env: Path, api_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(api_app) as test_client:
        yield test_client


# --- Accounts: logged-in clients ---------------------------------------------------------------

TEST_PASSWORD = "correct horse battery staple"


class LoggedInClient(TestClient):
    """A TestClient logged in through the real login form; it sends the session's CSRF token
    as ``X-CSRF-Token`` on every request (drop it from ``headers`` to test CSRF refusals)."""

    user_id: int
    email: str
    role: str
    csrf_token: str


LoginAs = Callable[..., LoggedInClient]


@pytest.fixture
def login_as(env: Path, api_app: FastAPI) -> Iterator[LoginAs]:
    """``login_as(role, clinic_ids=[...], email=None) -> LoggedInClient`` (a new user each call)."""
    from kuchikomi.services.accounts import create_user
    from models.db import session_scope

    with ExitStack() as stack:

        def make(
            role: str, clinic_ids: Sequence[int] = (), email: str | None = None
        ) -> LoggedInClient:
            email = email or f"{role}-{uuid.uuid4().hex[:8]}@example.jp"
            with session_scope() as s:
                user = create_user(
                    session=s,
                    email=email,
                    role=role,
                    password=TEST_PASSWORD,
                    clinic_ids=clinic_ids,
                )
                user_id = user.id
            test_client = stack.enter_context(LoggedInClient(api_app))
            form = test_client.get("/login").text
            login_csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
            assert login_csrf is not None
            response = test_client.post(
                "/login",
                data={"email": email, "password": TEST_PASSWORD, "csrf_token": login_csrf[1]},
                follow_redirects=False,
            )
            assert response.status_code == 303, response.text
            test_client.csrf_token = test_client.get("/api/v1/me").json()["csrf_token"]
            test_client.headers["X-CSRF-Token"] = test_client.csrf_token
            test_client.user_id, test_client.email, test_client.role = user_id, email, role
            return test_client

        yield make


@pytest.fixture
def admin_client(login_as: LoginAs) -> LoggedInClient:
    return login_as("admin")


@pytest.fixture
def reviewer_client(login_as: LoginAs) -> LoggedInClient:
    return login_as("reviewer")
