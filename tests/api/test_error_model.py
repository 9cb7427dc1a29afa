"""One error model (kuchikomi/errors.py): every service error is answered by the app's handlers
with its documented status and body — ``{"detail": "one sentence"}`` on the JSON API, the
Japanese error page on the web UI — and another clinic's review looks exactly like a missing one."""

from __future__ import annotations

import pytest
from fastapi import status
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
)
from models import Review
from tests.api.conftest import LoggedInClient, LoginAs
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
    import kuchikomi.services.cases
    import kuchikomi.services.evidence
    import kuchikomi.services.reviews  # noqa: F401

    expected = {
        NotFound: status.HTTP_404_NOT_FOUND,
        Forbidden: status.HTTP_403_FORBIDDEN,
        Conflict: status.HTTP_409_CONFLICT,
        Invalid: status.HTTP_422_UNPROCESSABLE_CONTENT,
    }
    classes = _all_subclasses(DomainError)
    assert {ReviewNotFound, ClinicNotFound} <= classes
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
