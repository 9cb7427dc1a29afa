"""The /sources staff page and the clinic page's health lines: crawl health in Japanese."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.api.conftest import LoginAs
from tests.api.factories import make_clinic

SCRIPT = "<script>alert(1)</script>"


def _broken(session: Session) -> tuple[int, int]:
    broken = make_clinic(session, name=f"さくら内科{SCRIPT}")
    healthy = make_clinic(session, name="みどり歯科")
    listing = broken.listings[0]
    listing.health_status = "layout_changed"
    listing.health_since = datetime(2025, 6, 1, 3, 0, tzinfo=UTC)
    listing.health_detail = f"no review block at https://x.example/{SCRIPT}"
    listing.consecutive_failures = 2
    healthy.listings[0].health_status = "ok"
    healthy.listings[0].last_success_at = datetime(2025, 6, 2, 3, 0, tzinfo=UTC)
    session.commit()
    return broken.id, healthy.id


def test_admin_sees_every_listing_with_status_in_japanese(
    session: Session, login_as: LoginAs
) -> None:
    broken_id, healthy_id = _broken(session)
    page = login_as("admin").get("/sources")

    assert page.status_code == 200
    html = page.text
    assert "巡回の状態" in html and "1件の掲載ページで問題が起きています" in html
    assert "構成変更の疑い" in html and "正常" in html
    assert "2回連続で失敗" in html
    assert "2025年6月1日 12:00" in html  # since, in Japan time
    assert "kuchikomi sites check" in html  # what to do about it
    assert SCRIPT not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert f'href="/clinics/{broken_id}"' in html and f'href="/clinics/{healthy_id}"' in html

    clinic = login_as("admin").get(f"/clinics/{broken_id}")
    assert clinic.status_code == 200
    assert "構成変更の疑い" in clinic.text and "2回連続で失敗" in clinic.text


def test_clinic_user_sees_only_their_own_listings(session: Session, login_as: LoginAs) -> None:
    broken_id, healthy_id = _broken(session)
    page = login_as("clinic", clinic_ids=[healthy_id]).get("/sources")

    assert page.status_code == 200
    assert "みどり歯科" in page.text and "問題は見つかっていません" in page.text
    assert "さくら内科" not in page.text and f"/clinics/{broken_id}" not in page.text


def test_sources_page_needs_a_login(session: Session, client: TestClient) -> None:
    response = client.get("/sources", follow_redirects=False)
    assert response.status_code in (302, 303, 401)
