"""Login throttling holds under real concurrency (issue 12, item 8): 50 wrong passwords sent at
once to a live server get at most 5 password checks, on SQLite and PostgreSQL; afterwards the
right password is refused until the window has passed, and then works."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kuchikomi.services.accounts import (
    MAX_FAILURES_PER_ACCOUNT,
    THROTTLE_WINDOW,
    check_password,
    create_user,
)
from models import LoginAttempt, LoginThrottle
from models.base import utcnow
from tests.api.conftest import TEST_PASSWORD
from tests.live_app import running_app

EMAIL = "target@example.jp"
PARALLEL = 50


def _login_form(client: httpx.Client) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    return token[1]


def _login(client: httpx.Client, token: str, password: str) -> int:
    response = client.post(
        "/login",
        data={"email": EMAIL, "password": password, "csrf_token": token},
        follow_redirects=False,
    )
    return response.status_code


@pytest.mark.slow  # a uvicorn server
def test_fifty_parallel_wrong_passwords_get_at_most_five_checks(
    db_url: str, session: Session, env: Path
) -> None:
    create_user(session=session, email=EMAIL, role="reviewer", password=TEST_PASSWORD)
    session.commit()
    with running_app(db_url, env) as base:
        clients = [httpx.Client(base_url=base, timeout=60) for _ in range(PARALLEL)]
        tokens = [_login_form(c) for c in clients]
        start = threading.Barrier(PARALLEL)
        statuses: list[int] = []

        def attempt(i: int) -> None:
            start.wait()
            statuses.append(_login(clients[i], tokens[i], f"wrong password {i}"))

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(PARALLEL)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        checked = session.scalar(
            select(func.count(LoginAttempt.id)).where(LoginAttempt.email == EMAIL)
        )
        assert checked == MAX_FAILURES_PER_ACCOUNT  # never more, and not fewer either
        assert sorted(set(statuses)) == [401, 429]
        assert statuses.count(401) == checked
        assert statuses.count(429) == PARALLEL - checked

        # Locked for the window, even with the right password…
        assert _login(clients[0], _login_form(clients[0]), TEST_PASSWORD) == 429
        # …and the right password works once the window has passed.
        for counter in session.scalars(select(LoginThrottle)):
            counter.window_start -= THROTTLE_WINDOW + timedelta(seconds=1)
        session.commit()
        assert _login(clients[0], _login_form(clients[0]), TEST_PASSWORD) == 303
        for client in clients:
            client.close()


def test_counters_of_windows_long_over_are_swept(session: Session, env: Path) -> None:
    """The throttle table keeps recent keys only: a password sprayer's e-mails and addresses
    do not stay in it for ever, and a counter of the last window is kept."""
    now = utcnow()
    session.add_all(
        [
            LoginThrottle(
                key="account:sprayed@example.jp",
                window_start=now - 3 * THROTTLE_WINDOW,
                checks=MAX_FAILURES_PER_ACCOUNT,
            ),
            LoginThrottle(key="ip:203.0.113.9", window_start=now - 4 * THROTTLE_WINDOW, checks=3),
            LoginThrottle(key="ip:203.0.113.10", window_start=now - THROTTLE_WINDOW, checks=2),
        ]
    )
    session.commit()

    assert check_password(session=session, email=EMAIL, password="wrong", ip="198.51.100.1") is None
    session.commit()

    session.expire_all()
    counters = {row.key: row.checks for row in session.scalars(select(LoginThrottle))}
    assert counters == {
        f"account:{EMAIL}": 1,
        "ip:198.51.100.1": 1,
        "ip:203.0.113.10": 2,  # its window ended, but recently: kept until the sweep's margin
    }
