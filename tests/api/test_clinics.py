"""Registering and listing clinics over the JSON API: 201 with ids, refusals store nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kuchikomi_settings import get_settings
from models import Clinic, Listing


@pytest.fixture
def client(admin_client: TestClient) -> TestClient:
    """These tests are not about logins: they run as a logged-in administrator (see conftest)."""
    return admin_client


def _counts(session: Session) -> tuple[int, int]:
    return (
        session.scalar(select(func.count()).select_from(Clinic)) or 0,
        session.scalar(select(func.count()).select_from(Listing)) or 0,
    )


def test_register_then_list(client: TestClient) -> None:
    assert client.get("/api/v1/clinics").json() == []

    created = client.post(
        "/api/v1/clinics",
        json={"name": "さくら内科", "urls": ["https://example.jp/c/1", "https://EXAMPLE.jp/c/2"]},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "さくら内科"
    assert [item["url"] for item in body["listings"]] == [
        "https://example.jp/c/1",
        "https://example.jp/c/2",
    ]

    listed = client.get("/api/v1/clinics")
    assert listed.status_code == 200
    assert [(c["id"], c["name"]) for c in listed.json()] == [(body["id"], "さくら内科")]
    assert [item["id"] for item in listed.json()[0]["listings"]] == [
        item["id"] for item in body["listings"]
    ]


@pytest.mark.parametrize(
    ("bad_url", "message"),
    [
        ("javascript:alert(1)", "only http and https"),
        ("ftp://example.jp/reviews", "only http and https"),
        ("http:///no-host", "no host"),
        ("http://127.0.0.1:8000/clinic/1", ""),
        ("http://192.168.1.10/clinic", ""),
    ],
)
def test_bad_url_answers_422_with_reason_and_stores_nothing(
    client: TestClient,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
    bad_url: str,
    message: str,
) -> None:
    monkeypatch.setenv("KUCHIKOMI_ALLOW_PRIVATE_HOSTS", "false")
    get_settings.cache_clear()

    response = client.post(
        "/api/v1/clinics", json={"name": "x", "urls": ["https://example.jp/ok", bad_url]}
    )

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    assert message in detail
    if not message:  # private addresses: the reason names the refused URL's host
        assert bad_url.split("/")[2].split(":")[0] in detail
    assert _counts(session) == (0, 0)


def test_duplicate_listing_answers_422_and_keeps_the_first(
    client: TestClient, session: Session
) -> None:
    first = client.post("/api/v1/clinics", json={"name": "a", "urls": ["https://example.jp/c/9"]})
    assert first.status_code == 201

    again = client.post(
        "/api/v1/clinics",
        json={"name": "b", "urls": ["https://example.jp/c/10", "https://EXAMPLE.jp/c/9"]},
    )

    assert again.status_code == 422
    assert "already registered" in again.json()["detail"]
    assert "https://example.jp/c/9" in again.json()["detail"]
    assert _counts(session) == (1, 1)
    assert [c["name"] for c in client.get("/api/v1/clinics").json()] == ["a"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "", "urls": ["https://example.jp/c/1"]},
        {"name": "   ", "urls": ["https://example.jp/c/1"]},
        {"name": "a", "urls": []},
        {"name": "a"},
        {"urls": ["https://example.jp/c/1"]},
    ],
)
def test_malformed_body_answers_422_and_stores_nothing(
    client: TestClient, session: Session, body: dict[str, object]
) -> None:
    response = client.post("/api/v1/clinics", json=body)
    assert response.status_code == 422
    assert response.json()["detail"]
    assert _counts(session) == (0, 0)
