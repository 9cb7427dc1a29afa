"""One error model (kuchikomi/errors.py): every service error is answered by the app's handlers
with its documented status and body — ``{"detail": "one sentence"}`` on the JSON API, the
Japanese error page on the web UI — and another clinic's review looks exactly like a missing one.
Role refusals are domain errors too (Forbidden); a missing login or CSRF token is not."""

from __future__ import annotations

import re

import pytest
from fastapi import status
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.errors import domain_status
from kuchikomi.errors import (
    ClinicNotFound,
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    ReviewNotFound,
    Throttled,
)
from kuchikomi.services.accounts import MAX_FAILURES_PER_ACCOUNT, create_user
from models import Decision, Review
from tests.api.conftest import TEST_PASSWORD, LoggedInClient, LoginAs
from tests.api.factories import make_clinic, make_review

UNKNOWN_ID = 987_654

# (method, path, JSON body) of every route that looks up one review on the caller's behalf.
REVIEW_ROUTES = [
    ("GET", "/api/v1/reviews/{id}", None),
    ("POST", "/api/v1/reviews/{id}/decision", {"decision": "unsure"}),
    ("GET", "/api/v1/reviews/{id}/evidence", None),
    ("GET", "/api/v1/reviews/{id}/takedown-draft", None),
    ("PUT", "/api/v1/reviews/{id}/takedown-draft", {"rights": "名誉権"}),
    ("POST", "/api/v1/reviews/{id}/case", {"status": "sent"}),
]
REVIEW_PAGES = ["/reviews/{id}", "/reviews/{id}/takedown"]


def _all_subclasses(cls: type[DomainError]) -> set[type[DomainError]]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _all_subclasses(sub)
    return found


def test_every_domain_error_class_has_a_status() -> None:
    # Import every service module, so that each error class defined anywhere is registered.
    import kuchikomi.services.accounts
    import kuchikomi.services.cases
    import kuchikomi.services.clinics
    import kuchikomi.services.evidence
    import kuchikomi.services.google
    import kuchikomi.services.importer
    import kuchikomi.services.locks
    import kuchikomi.services.notifications.subscriptions
    import kuchikomi.services.reviews  # noqa: F401
    from kuchikomi.services.accounts import ThrottledError
    from kuchikomi.services.evidence import BundleFormatError, SigningKeyError
    from kuchikomi.services.importer import ImportFileError
    from kuchikomi.services.locks import LockHeldError

    expected = {
        NotFound: status.HTTP_404_NOT_FOUND,
        Forbidden: status.HTTP_403_FORBIDDEN,
        Conflict: status.HTTP_409_CONFLICT,
        Invalid: status.HTTP_422_UNPROCESSABLE_CONTENT,
        Throttled: status.HTTP_429_TOO_MANY_REQUESTS,
    }
    classes = _all_subclasses(DomainError)
    assert {ReviewNotFound, ClinicNotFound, ThrottledError, LockHeldError} <= classes
    assert {ImportFileError, BundleFormatError, SigningKeyError} <= classes
    for cls in classes:
        kinds = [kind for kind in expected if issubclass(cls, kind)]
        assert len(kinds) == 1, f"{cls.__name__} must be exactly one of {list(expected)}"
        error = cls.__new__(cls)
        assert domain_status(error)[0] == expected[kinds[0]], cls.__name__


@pytest.fixture
def other_clinics_review(session: Session) -> Review:
    clinic = make_clinic(session, "よその内科")
    return make_review(session, clinic.listings[0], text="院長は横領している", probability=0.9)


@pytest.mark.parametrize(("method", "path", "body"), REVIEW_ROUTES)
def test_unknown_review_is_404_with_one_sentence(
    admin_client: LoggedInClient, method: str, path: str, body: dict[str, str] | None
) -> None:
    response = admin_client.request(method, path.format(id=UNKNOWN_ID), json=body)
    assert response.status_code == 404, response.text
    assert response.json() == {"detail": f"review {UNKNOWN_ID} does not exist"}


@pytest.mark.parametrize(("method", "path", "body"), REVIEW_ROUTES)
def test_another_clinics_review_looks_like_a_missing_one(
    login_as: LoginAs,
    session: Session,
    other_clinics_review: Review,
    method: str,
    path: str,
    body: dict[str, str] | None,
) -> None:
    own = make_clinic(session, "自分の眼科")
    clinic_user = login_as("clinic", clinic_ids=[own.id])
    review_id = other_clinics_review.id
    response = clinic_user.request(method, path.format(id=review_id), json=body)
    assert response.status_code == 404, response.text
    assert response.json() == {"detail": f"review {review_id} does not exist"}


@pytest.mark.parametrize("path", REVIEW_PAGES)
def test_pages_answer_the_japanese_not_found_page(
    login_as: LoginAs, session: Session, other_clinics_review: Review, path: str
) -> None:
    own = make_clinic(session, "自分の眼科")
    clinic_user = login_as("clinic", clinic_ids=[own.id])
    for review_id in (UNKNOWN_ID, other_clinics_review.id):
        response = clinic_user.get(path.format(id=review_id))
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert "見つかりません" in response.text
        assert "この口コミは登録されていません。" in response.text


def test_unknown_clinic_filter_is_404_on_the_api_the_export_and_the_queue_page(
    admin_client: LoggedInClient,
) -> None:
    for path in ("/api/v1/reviews", "/api/v1/reviews.csv"):
        response = admin_client.get(path, params={"clinic_id": UNKNOWN_ID})
        assert response.status_code == 404, path
        assert response.json() == {"detail": f"clinic {UNKNOWN_ID} does not exist"}
    page = admin_client.get("/", params={"clinic_id": UNKNOWN_ID})
    assert page.status_code == 404
    assert "指定された医療機関は登録されていません。" in page.text


def test_conflict_is_409_and_invalid_is_422_with_one_sentence(
    admin_client: LoggedInClient, other_clinics_review: Review
) -> None:
    url = f"/api/v1/reviews/{other_clinics_review.id}/case"
    # A case step the draft state does not allow: a conflict with the case's state.
    conflict = admin_client.post(url, json={"status": "removed"})
    assert conflict.status_code == 409, conflict.text
    assert conflict.json() == {"detail": "a case in state 'draft' cannot move to 'removed'"}
    # A date in the future: impossible input.
    invalid = admin_client.post(url, json={"status": "sent", "on": "2099-01-01"})
    assert invalid.status_code == 422, invalid.text
    assert invalid.json() == {"detail": "the date 2099-01-01 is in the future"}
    # A damaged cursor is invalid input too.
    cursor = admin_client.get("/api/v1/reviews", params={"cursor": "not-a-cursor"})
    assert cursor.status_code == 422
    assert isinstance(cursor.json()["detail"], str)


def test_clinic_user_on_own_review_is_403_not_404(
    login_as: LoginAs, session: Session, other_clinics_review: Review
) -> None:
    clinic_user = login_as("clinic", clinic_ids=[other_clinics_review.listing.clinic_id])
    response = clinic_user.post(
        f"/api/v1/reviews/{other_clinics_review.id}/decision", json={"decision": "unsure"}
    )
    assert response.status_code == 403
    assert response.json() == {"detail": "only admins and reviewers record decisions"}


# Role refusals of a logged-in user, by route: (role, method, path, JSON body, detail). A clinic
# user's own review, so that visibility (404) is not what refuses.
ROLE_REFUSALS = [
    ("clinic", "POST", "/api/v1/reviews/{id}/decision", {"decision": "unsure"},
     "only admins and reviewers record decisions"),
    ("clinic", "PUT", "/api/v1/reviews/{id}/takedown-draft", {"rights": "名誉権"},
     "only admins and reviewers edit drafts and record case steps"),
    ("clinic", "POST", "/api/v1/reviews/{id}/case", {"status": "sent"},
     "only admins and reviewers edit drafts and record case steps"),
    ("reviewer", "GET", "/api/v1/audit", None, "this needs the role admin"),
    ("clinic", "POST", "/api/v1/clinics", {"name": "a", "urls": ["https://example.jp/c/1"]},
     "this needs the role admin"),
]  # fmt: skip


@pytest.mark.parametrize(("role", "method", "path", "body", "detail"), ROLE_REFUSALS)
def test_role_refusals_are_403_with_one_sentence(
    login_as: LoginAs,
    other_clinics_review: Review,
    role: str,
    method: str,
    path: str,
    body: dict[str, object] | None,
    detail: str,
) -> None:
    clinic_ids = [other_clinics_review.listing.clinic_id] if role == "clinic" else []
    client = login_as(role, clinic_ids=clinic_ids)
    response = client.request(method, path.format(id=other_clinics_review.id), json=body)
    assert response.status_code == 403, response.text
    assert response.json() == {"detail": detail}
    assert "www-authenticate" not in response.headers


def test_admin_only_page_answers_the_japanese_403_page(login_as: LoginAs) -> None:
    page = login_as("reviewer").get("/audit")
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    assert "実行できません" in page.text
    assert "この操作を行う権限がありません。" in page.text


def test_decision_form_refuses_a_clinic_user_on_the_review_page(
    login_as: LoginAs, session: Session, other_clinics_review: Review
) -> None:
    clinic_user = login_as("clinic", clinic_ids=[other_clinics_review.listing.clinic_id])
    page = clinic_user.post(
        f"/reviews/{other_clinics_review.id}/decision",
        data={"decision": "harmful", "csrf_token": clinic_user.csrf_token},
        follow_redirects=False,
    )
    assert page.status_code == 403
    assert "院長は横領している" in page.text  # the review page itself, not an error page
    assert "実行できません" not in page.text
    assert "判断を記録できるのは管理者と確認担当者です。" in page.text  # and it says why
    assert session.scalar(select(func.count(Decision.id))) == 0


def test_login_and_csrf_failures_stay_http_level(
    client: TestClient, admin_client: LoggedInClient
) -> None:
    # No login: 401 with a challenge on the API, the login page for a page.
    api = client.get("/api/v1/audit")
    assert api.status_code == 401
    assert api.json() == {"detail": "login required"}
    assert api.headers["www-authenticate"] == "Bearer"
    page = client.get("/audit", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Faudit"
    # A cookie session without its CSRF token: 403, before any role or review is looked at.
    del admin_client.headers["X-CSRF-Token"]
    forged = admin_client.post(
        f"/api/v1/reviews/{UNKNOWN_ID}/decision", json={"decision": "unsure"}
    )
    assert forged.status_code == 403
    assert forged.json()["detail"].startswith("CSRF token missing or wrong")


def test_throttled_login_is_429_on_the_login_form(client: TestClient, session: Session) -> None:
    create_user(session=session, email="locked@example.jp", role="reviewer", password=TEST_PASSWORD)
    session.commit()

    def attempt(password: str) -> tuple[int, str]:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
        assert token is not None
        response = client.post(
            "/login",
            data={"email": "locked@example.jp", "password": password, "csrf_token": token[1]},
            follow_redirects=False,
        )
        return response.status_code, response.text

    for n in range(MAX_FAILURES_PER_ACCOUNT):
        assert attempt(f"wrong {n}")[0] == 401
    code, text = attempt(TEST_PASSWORD)
    assert code == 429
    assert (
        "ログインの失敗が続いたため、一時的にログインを止めています。"
        "15分ほど待ってから、もう一度お試しください。"
    ) in text
    assert 'name="password"' in text  # the login form again, keeping the email
    assert 'value="locked@example.jp"' in text
