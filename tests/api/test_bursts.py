"""``GET /api/v1/bursts`` and the clinic page's timeline chart, scoped by account."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

import kuchikomi.services.bursts as service
from kuchikomi.schemas import BurstPublic
from kuchikomi.services.bursts import detect_bursts, list_burst_records
from models import Burst, Clinic, Review
from tests.api.conftest import LoggedInClient, LoginAs
from tests.bursts.timelines import (
    ATTACK,
    START,
    clinic_with_campaign,
    make_review,
    quiet_clinic,
)

# "Now" for the chart: the campaign (day 100) lies inside the last 180 days.
NOW = START + timedelta(days=130)


def _setup(session: Session) -> tuple[int, int, list[int]]:
    clinic, attack = clinic_with_campaign(session, "さくら内科<script>alert(1)</script>")
    quiet = quiet_clinic(session)
    detect_bursts(session=session, clinic_ids=None, now=NOW)
    session.commit()
    return clinic.id, quiet.id, attack


def test_bursts_need_a_login(client: TestClient) -> None:
    assert client.get("/api/v1/bursts").status_code == 401


def test_staff_see_every_burst_and_can_filter(session: Session, login_as: LoginAs) -> None:
    clinic_id, quiet_id, attack = _setup(session)
    staff = login_as("reviewer")
    bursts = staff.get("/api/v1/bursts").json()
    assert {b["clinic_id"] for b in bursts} == {clinic_id}
    volume = next(b for b in bursts if b["kind"] == "volume")
    assert set(attack) <= set(volume["review_ids"])
    assert volume["observed"] >= 12 and volume["score"] > 5
    only = staff.get("/api/v1/bursts", params={"kind": "duplicate"}).json()
    assert [b["kind"] for b in only] == ["duplicate"]
    assert staff.get("/api/v1/bursts", params={"clinic_id": quiet_id}).json() == []
    assert staff.get("/api/v1/bursts", params={"clinic_id": 999999}).status_code == 404
    assert staff.get("/api/v1/bursts", params={"kind": "nonsense"}).status_code == 422


def test_clinic_users_see_only_their_clinics(session: Session, login_as: LoginAs) -> None:
    clinic_id, quiet_id, _ = _setup(session)
    own = login_as("clinic", clinic_ids=[quiet_id])
    assert own.get("/api/v1/bursts").json() == []
    assert own.get("/api/v1/bursts", params={"clinic_id": clinic_id}).status_code == 404
    assert own.get(f"/clinics/{clinic_id}").status_code == 404
    attacked = login_as("clinic", clinic_ids=[clinic_id])
    assert {b["clinic_id"] for b in attacked.get("/api/v1/bursts").json()} == {clinic_id}


def test_clinic_page_draws_the_timeline_with_the_burst_shaded(
    session: Session, login_as: LoginAs, monkeypatch: pytest.MonkeyPatch
) -> None:
    clinic_id, _, attack = _setup(session)
    # The page shows the last 180 days before "now"; pin the clock of the service.
    monkeypatch.setattr(service, "utcnow", lambda: NOW)
    page = login_as("reviewer").get(f"/clinics/{clinic_id}")
    assert page.status_code == 200
    html = page.text
    # The clinic's name is escaped, never markup.
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert "style=" not in svg and "<script" not in svg
    # One shaded band per burst, all on the campaign's day; its tooltip names the kind.
    bands = re.findall(r'<rect class="burst-band burst-(\w+)" x="([\d.]+)"', svg)
    assert {kind for kind, _ in bands} >= {"volume", "harmful", "duplicate"}
    assert len({x for _, x in bands}) == 1
    assert "投稿数の急増" in svg
    # The campaign day's bar: 13 reviews, 12 of them flagged.
    assert "4月16日: 新着 13 件（要確認 12 件）" in svg
    assert svg.count('class="bar-flagged"') == 1
    assert f"/reviews/{attack[0]}" in html
    assert "過去180日間の新着口コミ" in html


def test_clinic_page_of_a_quiet_clinic_has_no_bands(session: Session, login_as: LoginAs) -> None:
    _, quiet_id, _ = _setup(session)
    page = login_as("admin").get(f"/clinics/{quiet_id}")
    assert page.status_code == 200
    assert "burst-band" not in page.text
    assert "急増・集中投稿は検知されていません" in page.text
    assert login_as("admin").get("/clinics/999999").status_code == 404


def test_clinic_users_learn_a_campaign_reaches_other_clinics_but_not_which(
    session: Session, login_as: LoginAs
) -> None:
    """Issue 12, item 9: the same text posted at two clinics is one near-duplicate campaign."""
    sakura, sakura_attack = clinic_with_campaign(session, "さくら内科")
    midori, midori_attack = clinic_with_campaign(session, "みどり歯科")
    detect_bursts(session=session, clinic_ids=None, now=NOW)
    session.commit()
    staff = login_as("reviewer").get("/api/v1/bursts", params={"kind": "duplicate"}).json()
    seen_by_staff = next(b for b in staff if b["clinic_id"] == sakura.id)["details"]
    # The detector did find one campaign across both clinics (what staff see).
    assert seen_by_staff["clinic_ids"] == sorted([sakura.id, midori.id])
    assert set(midori_attack) <= set(seen_by_staff["cluster_review_ids"])

    clinic_user = login_as("clinic", clinic_ids=[sakura.id])
    response = clinic_user.get("/api/v1/bursts")
    assert response.status_code == 200
    for burst in response.json():
        assert burst["clinic_id"] == sakura.id
        assert not set(midori_attack) & set(burst["review_ids"])
        details = burst["details"]
        assert midori.id not in details.get("clinic_ids", [])
        for key in ("cluster_review_ids", "run_review_ids"):
            assert not set(midori_attack) & set(details.get(key, []))
    duplicate = next(b for b in response.json() if b["kind"] == "duplicate")["details"]
    assert duplicate["cross_clinic"] is True and duplicate["other_clinics"] == 1
    assert duplicate["clinic_ids"] == [sakura.id]
    assert set(duplicate["cluster_review_ids"]) == set(sakura_attack)
    # The clinic's page does not name the other clinic's reviews either.
    page = clinic_user.get(f"/clinics/{sakura.id}").text
    assert not any(f'/reviews/{i}"' in page for i in midori_attack)


def _listed(client: LoggedInClient) -> dict[str, dict[str, Any]]:
    response = client.get("/api/v1/bursts")
    assert response.status_code == 200
    return {b["kind"]: b for b in response.json()}


def _built_from_rows(session: Session) -> bytes:
    session.expire_all()
    records = list_burst_records(session=session)
    return b"[" + b",".join(TypeAdapter(BurstPublic).dump_json(r) for r in records) + b"]"


def test_staff_listing_serves_the_stored_records_and_follows_every_change(
    session: Session, login_as: LoginAs
) -> None:
    """Issue 15: the staff listing reads each burst's record stored at detection instead of
    every member row; whatever changes a burst, the listing shows it as the rows say."""
    clinic_id, _, attack = _setup(session)
    staff = login_as("reviewer")
    # Detection stored every record, and the listing is those records byte for byte what
    # building them from the rows gives.
    assert session.scalar(select(func.count()).where(Burst.record_json.is_(None))) == 0
    assert staff.get("/api/v1/bursts").content == _built_from_rows(session)

    # Another attack on the same day: re-detection adds the member and recounts.
    clinic = session.get(Clinic, clinic_id)
    assert clinic is not None
    late = make_review(
        session,
        clinic.listings[0],
        text=ATTACK + "！",
        author=None,
        rating=1.0,
        posted_at=START + timedelta(days=100, hours=3),
        probability=0.9,
        category="defamation",
    )
    session.commit()
    before = _listed(staff)["volume"]
    detect_bursts(session=session, clinic_ids=[clinic_id], now=NOW)
    session.commit()
    volume = _listed(staff)["volume"]
    assert volume["id"] == before["id"]
    assert late.id in volume["review_ids"] and late.id not in before["review_ids"]
    assert volume["observed"] == before["observed"] + 1
    assert staff.get("/api/v1/bursts").content == _built_from_rows(session)

    # A member review deleted with nothing but the database's cascade.
    session.execute(delete(Review).where(Review.id == attack[0]))
    session.commit()
    assert attack[0] not in _listed(staff)["volume"]["review_ids"]
    # A shown column changed outside the detector.
    session.execute(update(Burst).where(Burst.id == volume["id"]).values(score=99.5))
    session.commit()
    assert _listed(staff)["volume"]["score"] == 99.5
    assert staff.get("/api/v1/bursts").content == _built_from_rows(session)
    # Filters apply to the stored records alike.
    assert [b["kind"] for b in staff.get("/api/v1/bursts", params={"kind": "volume"}).json()] == [
        "volume"
    ]

    # The next detection stores the records again, as they are now.
    detect_bursts(session=session, clinic_ids=[clinic_id], now=NOW)
    session.commit()
    assert session.scalar(select(func.count()).where(Burst.record_json.is_(None))) == 0
    assert staff.get("/api/v1/bursts").content == _built_from_rows(session)
