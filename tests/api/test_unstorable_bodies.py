"""API bodies go through the same normalisation as crawled pages and imports: NUL and lone
surrogates never reach the database (docs/contracts.md#text-limits)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Clinic, Decision
from tests.api.conftest import LoginAs
from tests.api.factories import make_clinic, make_review

# Written as a client sends them: JSON escapes for NUL and a lone surrogate.
DECISION = b'{"decision": "criticism", "note": "\\u53d7\\u4ed8\\u0000\\u306e\\ud800\\u5bfe\\u5fdc"}'
CLINIC = (
    b'{"name": "\\u3055\\u304f\\u3089\\u0000\\u5185\\u79d1\\udfff",'
    b' "urls": ["https://example.jp/c/\\u0000nul"]}'
)
JSON = {"Content-Type": "application/json"}


def test_nul_and_lone_surrogates_in_bodies_are_stored_without_them(
    login_as: LoginAs, session: Session
) -> None:
    clinic = make_clinic(session, "さくら内科")
    review = make_review(session, clinic.listings[0], text="待ち時間が長い", probability=0.2)
    reviewer = login_as("reviewer")

    decided = reviewer.post(f"/api/v1/reviews/{review.id}/decision", content=DECISION, headers=JSON)

    assert decided.status_code == 201, decided.text
    assert decided.json()["note"] == "受付の\ufffd対応"
    session.expire_all()
    assert session.scalars(select(Decision.note)).one() == "受付の\ufffd対応"

    admin = login_as("admin")
    created = admin.post("/api/v1/clinics", content=CLINIC, headers=JSON)
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "さくら内科\ufffd"
    assert created.json()["listings"][0]["url"] == "https://example.jp/c/nul"
    session.expire_all()
    assert sorted(session.scalars(select(Clinic.name))) == ["さくら内科", "さくら内科\ufffd"]
