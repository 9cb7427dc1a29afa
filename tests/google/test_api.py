"""Registering a Google location through the HTTP API (the real app, the fake Google)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from kuchikomi.demo.google_fake import GoogleFake
from models import AuditEntry, Listing
from tests.api.conftest import (  # noqa: F401 - fixtures
    LoggedInClient,
    admin_client,
    api_app,
    login_as,
)
from tests.google.conftest import connect


def test_an_admin_registers_a_clinic_with_a_google_location(
    admin_client: LoggedInClient,  # noqa: F811
    session: Session,
    fake: GoogleFake,
) -> None:
    connection_id, refresh_token = connect(fake)
    body = {
        "name": "さくら内科",
        "google_locations": [
            {"location": "accounts/111/locations/222", "connection_id": connection_id}
        ],
    }

    response = admin_client.post("/api/v1/clinics", json=body)

    assert response.status_code == 201, response.text
    (listing,) = response.json()["listings"]
    assert listing == {
        **listing,
        "url": "https://maps.google.com/maps?cid=222",
        "source": "google_business_profile",
    }
    stored = session.scalars(select(Listing)).one()
    assert stored.google_location == "accounts/111/locations/222"
    audit = " ".join(str(entry.after) for entry in session.scalars(select(AuditEntry)))
    assert refresh_token not in audit + response.text

    missing = admin_client.post(
        "/api/v1/clinics",
        json={
            "name": "みどり歯科",
            "google_locations": [
                {"location": "accounts/111/locations/999", "connection_id": connection_id}
            ],
        },
    )
    assert missing.status_code == 422
    assert "404" in missing.json()["detail"]
    fake.add_location("111", "223", "みどり歯科", {})
    fake.denied = True
    denied = admin_client.post(
        "/api/v1/clinics",
        json={
            "name": "みどり歯科",
            "google_locations": [
                {"location": "accounts/111/locations/223", "connection_id": connection_id}
            ],
        },
    )
    assert denied.status_code == 502
    assert "Business Profile API access" in denied.json()["detail"]
    nothing = admin_client.post("/api/v1/clinics", json={"name": "空"})
    assert nothing.status_code == 422
