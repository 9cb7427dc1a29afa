"""Hostile values in paths, query strings, cursors and bodies answer 4xx, never 500, on SQLite
and PostgreSQL, and store nothing (issue 12, item 4; the fuzz of test_fuzz_openapi.py covers the
JSON API at large, these name the cases found by hand, pages included)."""

from __future__ import annotations

import base64
import json
import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.app import create_app
from kuchikomi.schemas import MAX_DB_ID
from models import Clinic, Decision
from tests.api.conftest import LoggedInClient, LoginAs
from tests.api.factories import make_clinic, make_review
from tests.api.test_accounts import _all_routes

HUGE = "99999999999999999999"  # beyond 64 bits
JUST_PAST = str(MAX_DB_ID + 1)  # beyond PostgreSQL's INTEGER


def _routes_with_ids() -> list[tuple[str, str]]:
    routes = []
    for route in _all_routes(create_app().routes):
        if "_id}" in route.path:
            for method in sorted(set(route.methods) - {"HEAD"}):
                routes.append((method, route.path))
    return routes


@pytest.fixture
def admin(login_as: LoginAs) -> LoggedInClient:
    return login_as("admin")


def test_every_route_with_an_id_refuses_ids_too_large_for_the_database(
    admin: LoggedInClient, session: Session
) -> None:
    routes = _routes_with_ids()
    assert len(routes) >= 10
    for method, path in routes:
        for number in (HUGE, JUST_PAST):
            url = re.sub(r"\{[^}]+\}", number, path)
            body = {"json": {}} if path.startswith("/api/") and method != "GET" else {}
            response = admin.request(method, url, follow_redirects=False, **body)  # type: ignore[arg-type]
            assert 400 <= response.status_code < 500, (method, url, response.status_code)


@pytest.mark.parametrize(
    "url",
    [
        f"/api/v1/reviews?clinic_id={HUGE}",
        f"/api/v1/reviews?clinic_id={JUST_PAST}",
        f"/api/v1/reviews.csv?clinic_id={JUST_PAST}",
        f"/api/v1/bursts?clinic_id={JUST_PAST}",
        f"/api/v1/audit?cursor={HUGE}",
        f"/api/v1/audit?cursor={JUST_PAST}",
        "/api/v1/audit?object_id=%00",
        "/api/v1/reviews?posted_to=9999-12-31",
        "/api/v1/reviews?posted_from=0001-01-01",
        "/api/v1/reviews.csv?posted_to=9999-12-31",
        f"/reviews?clinic_id={HUGE}",
        f"/reviews?clinic_id={JUST_PAST}",
        "/reviews?posted_to=9999-12-31",
        "/?posted_from=0001-01-01",
        f"/audit?before={HUGE}",
        f"/audit?before={JUST_PAST}",
    ],
)
def test_query_strings_out_of_range_answer_4xx(admin: LoggedInClient, url: str) -> None:
    response = admin.get(url)
    assert 400 <= response.status_code < 500, response.text[:300]


def _review_cursor(payload: dict[str, object]) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_review_cursors_naming_impossible_ids_are_refused(admin: LoggedInClient) -> None:
    for flagged, payload in (
        ("true", {"k": "q", "p": 0.5, "id": 10**20}),
        ("false", {"k": "i", "id": MAX_DB_ID + 1}),
    ):
        cursor = _review_cursor(payload)
        response = admin.get("/api/v1/reviews", params={"flagged": flagged, "cursor": cursor})
        assert response.status_code == 422
        assert "invalid cursor" in response.json()["detail"]
    page = admin.get("/reviews", params={"show": "all", "cursor": _review_cursor(payload)})
    assert page.status_code == 400
    assert "ページの指定が壊れている" in page.text


@pytest.mark.parametrize("bad", ["\u0000", "\ud800", "abc\udfffdef"])
def test_nul_and_lone_surrogates_in_json_bodies_are_cleaned_never_a_server_error(
    admin: LoggedInClient, session: Session, bad: str
) -> None:
    # Request text goes through the one normalisation boundary (models.text): NUL dropped,
    # lone surrogates replaced; tests/api/test_unstorable_bodies.py checks the stored values.
    clinic = make_clinic(session)
    review = make_review(session, clinic.listings[0], probability=0.9, category="insult")
    # json.dumps writes a lone surrogate as the escape "\ud800", as a hostile client would.
    requests = [
        ("POST", "/api/v1/clinics", {"name": f"名{bad}", "urls": ["https://example.jp/x"]}),
        (
            "POST",
            "/api/v1/clinics",
            {"name": "名", "urls": [f"https://example.jp/{bad}"]},
        ),
        (
            "POST",
            f"/api/v1/reviews/{review.id}/decision",
            {"decision": "harmful", "category": "insult", "note": f"メモ{bad}"},
        ),
        ("PUT", f"/api/v1/reviews/{review.id}/takedown-draft", {"reason": f"理由{bad}"}),
        ("POST", f"/api/v1/reviews/{review.id}/case", {"status": "sent", "note": f"{bad}"}),
    ]
    for method, url, body in requests:
        response = admin.request(
            method,
            url,
            content=json.dumps(body),
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code < 500, (url, response.status_code, response.text[:200])
    session.expire_all()
    stored = [
        *session.scalars(select(Clinic.name)),
        *session.scalars(select(Decision.note)),
        json.dumps(admin.get(f"/api/v1/reviews/{review.id}/takedown-draft").json()),
    ]
    assert "メモ" in session.scalars(select(Decision.note)).one()
    for value in stored:
        assert "\x00" not in value and not re.search("[\ud800-\udfff]", value), value


def test_nul_in_page_forms_is_dropped_and_bad_days_refused(
    admin: LoggedInClient, session: Session
) -> None:
    clinic = make_clinic(session)
    review = make_review(session, clinic.listings[0], probability=0.9, category="insult")
    decision = admin.post(
        f"/reviews/{review.id}/decision",
        data={"decision": "criticism", "note": "メモ\u0000", "csrf_token": admin.csrf_token},
        follow_redirects=False,
    )
    assert decision.status_code == 303, decision.text[:300]
    step = admin.post(
        f"/reviews/{review.id}/takedown/status",
        data={"status": "sent", "on": "9999-12-31", "csrf_token": admin.csrf_token},
    )
    assert step.status_code in (409, 422)
    session.expire_all()
    assert session.scalars(select(Decision.note)).one() == "メモ"


def test_nul_in_the_login_form_is_a_failed_login(admin: LoggedInClient) -> None:
    from tests.api.test_accounts import _login

    anonymous = LoggedInClient(admin.app)
    response = _login(anonymous, "a\u0000@example.jp", "not the password")
    assert response.status_code == 401  # type: ignore[attr-defined]
