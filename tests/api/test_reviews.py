"""The review queue over the JSON API: order, keyset pages, filters and refusals."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.api.factories import make_clinic, make_review


@pytest.fixture
def client(admin_client: TestClient) -> TestClient:
    """These tests are not about logins: they run as a logged-in administrator (see conftest)."""
    return admin_client


CONTRACT_FIELDS = {
    "id", "clinic_id", "listing_url", "external_id", "author", "rating", "posted_at",
    "first_seen_at", "removed_at", "text", "url", "label", "category", "harmful_probability",
    "flagged",
}  # fmt: skip


def _walk(client: TestClient, params: dict[str, Any]) -> tuple[list[int], int]:
    """Follow next_cursor to the end; returns the ids in order and the number of pages."""
    ids: list[int] = []
    pages = 0
    cursor = None
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        response = client.get("/api/v1/reviews", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        ids += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return ids, pages
        assert pages < 100, "pagination does not end"


def test_queue_holds_only_flagged_reviews_most_probable_first(
    client: TestClient, session: Session
) -> None:
    clinic = make_clinic(session)
    listing = clinic.listings[0]
    low = make_review(session, listing, probability=0.55, category="insult")
    make_review(session, listing, probability=0.2)  # criticism, not flagged
    make_review(session, listing)  # not classified yet
    high = make_review(session, listing, probability=0.97, category="threat")
    mid = make_review(session, listing, probability=0.8, category="defamation")

    body = client.get("/api/v1/reviews", params={"flagged": "true"}).json()

    assert [item["id"] for item in body["items"]] == [high.id, mid.id, low.id]
    assert body["next_cursor"] is None
    first = body["items"][0]
    assert CONTRACT_FIELDS <= first.keys()
    assert first["flagged"] is True
    assert first["category"] == "threat"
    assert first["harmful_probability"] == 0.97
    assert first["clinic_id"] == clinic.id
    assert first["listing_url"] == listing.url
    # ISO 8601 with an offset, so scripts can parse it without guessing the zone.
    assert datetime.fromisoformat(first["posted_at"]).utcoffset() is not None
    assert datetime.fromisoformat(first["first_seen_at"]).utcoffset() is not None


def test_queue_pages_cover_every_review_once_despite_equal_probabilities(
    client: TestClient, session: Session
) -> None:
    listing = make_clinic(session).listings[0]
    # Many ties, so page boundaries fall inside runs of equal probability.
    probabilities = [0.9, 0.7, 0.9, 0.6, 0.7, 0.9, 0.7, 0.7, 0.6, 0.9, 0.7, 0.9, 0.6, 0.7]
    reviews = [make_review(session, listing, probability=p, commit=False) for p in probabilities]
    session.commit()
    by_rank = sorted(zip(probabilities, (r.id for r in reviews), strict=True), reverse=True)
    expected = [review_id for _, review_id in by_rank]

    for limit in (1, 3, 4, 5, 14, 50):
        ids, pages = _walk(client, {"flagged": "true", "limit": limit})
        assert ids == expected, f"limit={limit}"
        # No empty trailing page: the last page says next_cursor null itself.
        assert pages == -(-len(expected) // limit), f"limit={limit}"


def test_reviews_added_while_paging_neither_repeat_nor_hide_the_rest(
    client: TestClient, session: Session
) -> None:
    listing = make_clinic(session).listings[0]
    reviews = [make_review(session, listing, probability=0.8) for _ in range(6)]
    expected = [r.id for r in sorted(reviews, key=lambda r: -r.id)]

    first = client.get("/api/v1/reviews", params={"flagged": "true", "limit": 3}).json()
    # A new, more harmful review arrives (a crawl ran) before staff open the next page.
    make_review(session, listing, probability=0.99)
    make_review(session, listing, probability=0.8)
    rest, _ = _walk(client, {"flagged": "true", "limit": 3, "cursor": first["next_cursor"]})

    assert [item["id"] for item in first["items"]] + rest == expected


def test_listing_without_flagged_filter_is_every_review_newest_first(
    client: TestClient, session: Session
) -> None:
    listing = make_clinic(session).listings[0]
    flagged = make_review(session, listing, probability=0.9, category="insult")
    criticism = make_review(session, listing, probability=0.1)
    unclassified = make_review(session, listing)

    everything, _ = _walk(client, {"limit": 2})
    assert everything == [unclassified.id, criticism.id, flagged.id]

    not_flagged, _ = _walk(client, {"flagged": "false", "limit": 1})
    assert not_flagged == [unclassified.id, criticism.id]

    item = client.get("/api/v1/reviews", params={"limit": 1}).json()["items"][0]
    assert item["id"] == unclassified.id
    assert (item["label"], item["category"], item["harmful_probability"], item["flagged"]) == (
        None,
        None,
        None,
        False,
    )


def test_filters_by_clinic_and_category(client: TestClient, session: Session) -> None:
    a = make_clinic(session, "A医院", listings=2)
    b = make_clinic(session, "B医院")
    a1 = make_review(session, a.listings[0], probability=0.9, category="defamation")
    a2 = make_review(session, a.listings[1], probability=0.8, category="insult")
    b1 = make_review(session, b.listings[0], probability=0.95, category="defamation")

    def ids(**params: Any) -> list[int]:
        response = client.get("/api/v1/reviews", params={"flagged": "true", **params})
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert ids(clinic_id=a.id) == [a1.id, a2.id]
    assert ids(clinic_id=b.id) == [b1.id]
    assert ids(category="defamation") == [b1.id, a1.id]
    assert ids(clinic_id=a.id, category="insult") == [a2.id]
    assert ids(clinic_id=b.id, category="threat") == []


def test_unknown_clinic_is_404_and_unknown_category_422(
    client: TestClient, session: Session
) -> None:
    make_clinic(session)
    response = client.get("/api/v1/reviews", params={"clinic_id": 999999})
    assert response.status_code == 404
    assert "999999" in response.json()["detail"]
    assert client.get("/api/v1/reviews", params={"category": "spam"}).status_code == 422


def test_one_review_by_id(client: TestClient, session: Session) -> None:
    listing = make_clinic(session).listings[0]
    review = make_review(
        session,
        listing,
        text="院長は不正請求をしているらしい",
        probability=0.88,
        category="defamation",
        reasons=["「不正請求」: 犯罪・不正の事実を摘示"],
    )

    body = client.get(f"/api/v1/reviews/{review.id}").json()
    assert body["text"] == "院長は不正請求をしているらしい"
    assert body["category"] == "defamation"
    assert body["reasons"] == ["「不正請求」: 犯罪・不正の事実を摘示"]
    assert body["model_version"] == "test-model-1"

    missing = client.get(f"/api/v1/reviews/{review.id + 1000}")
    assert missing.status_code == 404
    assert "does not exist" in missing.json()["detail"]


def _token(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def test_invalid_cursor_is_422_with_a_clear_message(client: TestClient, session: Session) -> None:
    listing = make_clinic(session).listings[0]
    for _ in range(3):
        make_review(session, listing, probability=0.9)
    queue_cursor = client.get("/api/v1/reviews", params={"flagged": "true", "limit": 1}).json()[
        "next_cursor"
    ]
    assert queue_cursor

    bad = [
        ({"flagged": "true", "cursor": "not-a-cursor!!"}, "invalid cursor"),
        ({"flagged": "true", "cursor": _token(["q", 1])}, "invalid cursor"),
        ({"flagged": "true", "cursor": _token({"k": "q", "p": "x", "id": 3})}, "probability"),
        ({"flagged": "true", "cursor": _token({"k": "q", "p": 0.5, "id": True})}, "review id"),
        ({"cursor": queue_cursor}, "different flagged filter"),
        ({"flagged": "true", "cursor": queue_cursor[:-3]}, "invalid cursor"),
    ]
    for params, message in bad:
        response = client.get("/api/v1/reviews", params=params)
        assert response.status_code == 422, params
        assert message in response.json()["detail"], params


def test_limit_is_bounded(client: TestClient) -> None:
    assert client.get("/api/v1/reviews", params={"limit": 201}).status_code == 422
    assert client.get("/api/v1/reviews", params={"limit": 0}).status_code == 422
    assert client.get("/api/v1/reviews", params={"limit": 200}).json() == {
        "items": [],
        "next_cursor": None,
    }
