"""Deadlines: 発信者情報開示 urgency (post date + 3 months by default) and follow-ups (7 days after
sending), for reviews staff confirmed as harmful; the page and the JSON route."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from kuchikomi.services.cases import today_jst
from kuchikomi.services.deadlines import add_months, list_deadlines
from kuchikomi_settings import get_settings
from tests.api.casework import decide, harmful_review
from tests.api.conftest import LoginAs
from tests.api.factories import make_clinic, make_review

TODAY = date(2025, 6, 1)


def _noon_jst(day: date) -> datetime:
    # 03:00 UTC is noon in Tokyo: the JST calendar day is unambiguous.
    return datetime(day.year, day.month, day.day, 3, 0, tzinfo=UTC)


def test_add_months_clamps_to_the_end_of_the_month() -> None:
    assert add_months(date(2025, 3, 4), 3) == date(2025, 6, 4)
    assert add_months(date(2025, 11, 30), 3) == date(2026, 2, 28)
    assert add_months(date(2023, 11, 30), 3) == date(2024, 2, 29)
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2025, 12, 15), 1) == date(2026, 1, 15)


def test_confirmed_harmful_reviews_get_urgency_and_follow_up_dates(
    session: Session, env: Path, login_as: LoginAs
) -> None:
    clinic = make_clinic(session)
    soon = harmful_review(session, clinic, posted_at=_noon_jst(date(2025, 3, 10)))
    later = harmful_review(session, clinic, posted_at=_noon_jst(date(2025, 5, 20)))
    overdue = harmful_review(session, clinic, posted_at=_noon_jst(date(2025, 2, 1)))
    # Not confirmed by staff, or confirmed and then judged criticism: no deadline.
    harmful_review(session, clinic, posted_at=_noon_jst(date(2025, 3, 10)), confirmed=False)
    changed = harmful_review(session, clinic, posted_at=_noon_jst(date(2025, 3, 10)))
    decide(session, changed, "criticism")
    # No post date on the site: counted from when it was first seen, marked as estimated.
    undated = make_review(session, clinic.listings[0], posted_at=None, text="日付のない投稿")
    undated.first_seen_at = _noon_jst(date(2025, 3, 5))
    session.commit()
    decide(session, undated, "harmful", "insult")

    client = login_as("reviewer")
    client.post(
        f"/api/v1/reviews/{later.id}/case",
        json={"status": "sent", "on": (today_jst() - timedelta(days=2)).isoformat()},
    )

    result = list_deadlines(session=session, today=TODAY)
    assert result.within_days == 14
    rows = [(d.kind, d.review_id, d.due_on, d.days_left) for d in result.items]
    assert ("disclosure", overdue.id, date(2025, 5, 1), -31) in rows
    assert ("disclosure", undated.id, date(2025, 6, 5), 4) in rows
    assert ("disclosure", soon.id, date(2025, 6, 10), 9) in rows
    # 2025-08-20 is beyond 14 days from TODAY.
    assert not any(d.review_id == later.id and d.kind == "disclosure" for d in result.items)
    assert {d.review_id for d in result.items} == {overdue.id, undated.id, soon.id}
    # Soonest first.
    assert [d.due_on for d in result.items] == sorted(d.due_on for d in result.items)
    (estimated,) = [d for d in result.items if d.review_id == undated.id]
    assert estimated.basis_estimated and estimated.basis_on == date(2025, 3, 5)

    # The request went out 2 days ago (real dates: a request cannot be dated in the future).
    now = list_deadlines(session=session)
    (follow_up,) = [d for d in now.items if d.kind == "follow_up"]
    assert follow_up.review_id == later.id
    assert follow_up.due_on == today_jst() + timedelta(days=5) and follow_up.days_left == 5
    assert follow_up.case_status == "sent"
    # Answered: no more follow-up.
    client.post(f"/api/v1/reviews/{later.id}/case", json={"status": "refused"})
    assert not any(d.kind == "follow_up" for d in list_deadlines(session=session).items)

    wide = list_deadlines(session=session, today=TODAY, within_days=90)
    assert ("disclosure", later.id, date(2025, 8, 20)) in [
        (d.kind, d.review_id, d.due_on) for d in wide.items
    ]


def test_the_period_comes_from_settings(
    session: Session, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    review = harmful_review(session, posted_at=_noon_jst(date(2025, 3, 10)))
    monkeypatch.setenv("KUCHIKOMI_DEADLINES__DISCLOSURE_MONTHS", "6")
    monkeypatch.setenv("KUCHIKOMI_DEADLINES__DUE_SOON_DAYS", "120")
    get_settings.cache_clear()
    result = list_deadlines(session=session, today=TODAY)
    assert result.within_days == 120
    assert [(d.review_id, d.due_on) for d in result.items] == [(review.id, date(2025, 9, 10))]


def test_json_route_and_page_are_scoped_to_the_users_clinics(
    session: Session, env: Path, login_as: LoginAs, client
) -> None:
    recent = today_jst() - timedelta(days=85)
    own = harmful_review(
        session,
        make_clinic(session, name="自院"),
        posted_at=_noon_jst(recent),
        text="<img src=x onerror=alert(1)> 院長は不正請求をしている",
    )
    other = harmful_review(session, make_clinic(session, name="他院"), posted_at=_noon_jst(recent))

    staff = login_as("reviewer").get("/api/v1/deadlines").json()
    assert {d["review_id"] for d in staff["items"]} == {own.id, other.id}
    assert staff["today"] == today_jst().isoformat()

    clinic_user = login_as("clinic", clinic_ids=[own.listing.clinic_id])
    mine = clinic_user.get("/api/v1/deadlines").json()
    assert [d["review_id"] for d in mine["items"]] == [own.id]
    assert mine["items"][0]["due_on"] == add_months(recent, 3).isoformat()

    page = clinic_user.get("/deadlines")
    assert page.status_code == 200
    assert "期限の近い対応" in page.text and "発信者情報開示の目安" in page.text
    assert f'href="/reviews/{own.id}"' in page.text
    assert f'href="/reviews/{other.id}"' not in page.text and "他院" not in page.text
    assert "<img src=x" not in page.text and "&lt;img src=x onerror=alert(1)&gt;" in page.text

    assert clinic_user.get("/api/v1/deadlines?within_days=-1").status_code == 422
    assert clinic_user.get("/api/v1/deadlines?within_days=abc").status_code == 422
    assert client.get("/api/v1/deadlines").status_code == 401
    assert client.get("/deadlines", follow_redirects=False).status_code == 303
