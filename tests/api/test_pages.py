"""The Japanese staff pages: the queue, escaping of untrusted text, links, paging, filters."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.routers.pages import PAGE_SIZE
from tests.api.factories import make_clinic, make_review


@pytest.fixture
def client(admin_client: TestClient) -> TestClient:
    """These tests are not about logins: they run as a logged-in administrator (see conftest)."""
    return admin_client


SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


def test_empty_queue_explains_itself_in_japanese(client: TestClient) -> None:
    response = client.get("/")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert '<html lang="ja">' in page
    assert "要確認の口コミ" in page
    assert "要確認の口コミはありません" in page
    # The page says plainly that nothing is removed automatically and that a person decides.
    assert "削除・非表示にすることはありません" in page
    assert "必ず人が判断" in page


def test_flagged_review_is_shown_with_category_probability_and_reasons(
    client: TestClient, session: Session
) -> None:
    clinic = make_clinic(session, "みなと歯科")
    review = make_review(
        session,
        clinic.listings[0],
        text="院長は不正請求をしているらしい。",
        author="通りすがり",
        posted_at=datetime(2025, 3, 3, 16, 0, tzinfo=UTC),  # 3月4日 01:00 in Japan
        url="https://reviews.example.jp/r/77",
        probability=0.874,
        category="defamation",
        reasons=["「不正請求」: 犯罪・不正の事実を摘示"],
    )
    make_review(session, clinic.listings[0], text="受付の対応が丁寧でした。", probability=0.05)

    page = client.get("/").text

    assert "みなと歯科" in page
    assert "院長は不正請求をしているらしい。" in page
    assert "通りすがり" in page
    assert "名誉毀損" in page
    assert "87%" in page
    assert "「不正請求」: 犯罪・不正の事実を摘示" in page
    assert "2025年3月4日" in page
    assert "受付の対応が丁寧でした。" not in page  # not flagged: not in the queue
    link = re.search(r'<a [^>]*href="https://reviews\.example\.jp/r/77"[^>]*>', page)
    assert link is not None
    assert 'rel="noopener noreferrer nofollow"' in link.group(0)
    assert f'href="/reviews/{review.id}"' in page


def test_untrusted_text_is_escaped_everywhere(client: TestClient, session: Session) -> None:
    clinic = make_clinic(session, f"クリニック{IMG}")
    review = make_review(
        session,
        clinic.listings[0],
        text=f"最悪{SCRIPT}です{IMG}",
        author=IMG,
        url="javascript:alert(1)",
        probability=0.9,
        category="insult",
        reasons=[f"理由{SCRIPT}"],
    )

    for path in ("/", f"/reviews/{review.id}", "/clinics", f"/?clinic_id={clinic.id}"):
        page = client.get(path).text
        assert SCRIPT not in page, path
        assert IMG not in page, path
        assert "&lt;img src=x onerror=alert(1)&gt;" in page, path
        assert 'href="javascript:' not in page, path
    queue = client.get("/").text
    assert "最悪&lt;script&gt;alert(1)&lt;/script&gt;です" in queue
    assert "理由&lt;script&gt;alert(1)&lt;/script&gt;" in queue
    # The review's own URL is not http(s), so the link falls back to the listing page.
    assert f'href="{clinic.listings[0].url}"' in queue


def test_queue_pages_with_next_link_and_filters_by_clinic(
    client: TestClient, session: Session
) -> None:
    a = make_clinic(session, "A内科")
    b = make_clinic(session, "B眼科")
    for i in range(PAGE_SIZE + 2):
        make_review(session, a.listings[0], text=f"A-{i:03d}", probability=0.6, commit=False)
    make_review(session, b.listings[0], text="B-only", probability=0.99, commit=False)
    session.commit()

    first = client.get("/", params={"clinic_id": a.id}).text
    assert "B-only" not in first
    assert first.count('class="review"') == PAGE_SIZE
    next_link = re.search(r'href="(/\?[^"]*cursor=[^"]+)">次のページ', first)
    assert next_link is not None
    href = next_link.group(1).replace("&amp;", "&")
    assert f"clinic_id={a.id}" in href  # the filter survives paging

    second = client.get(href).text
    assert second.count('class="review"') == 2
    assert "次のページ" not in second
    assert "最初のページ" in second
    shown = re.findall(r"A-\d{3}", first + second)
    assert sorted(shown) == [f"A-{i:03d}" for i in range(PAGE_SIZE + 2)]

    everything = client.get("/").text
    assert "B-only" in everything
    assert f'<option value="{a.id}" selected>' in first


def test_filter_by_category_and_empty_filtered_result(client: TestClient, session: Session) -> None:
    listing = make_clinic(session).listings[0]
    make_review(session, listing, text="脅迫の文", probability=0.9, category="threat")
    make_review(session, listing, text="侮辱の文", probability=0.8, category="insult")

    threat = client.get("/", params={"category": "threat", "clinic_id": ""}).text
    assert "脅迫の文" in threat and "侮辱の文" not in threat
    none = client.get("/", params={"category": "privacy"}).text
    assert "この条件に当てはまる要確認の口コミはありません" in none


def test_bad_filters_and_unknown_ids_answer_in_japanese(
    client: TestClient, session: Session
) -> None:
    make_clinic(session)
    unknown_clinic = client.get("/", params={"clinic_id": "999999"})
    assert unknown_clinic.status_code == 404
    assert "登録されていません" in unknown_clinic.text
    assert client.get("/", params={"clinic_id": "abc"}).status_code == 400
    assert client.get("/", params={"category": "spam"}).status_code == 400
    bad_cursor = client.get("/", params={"cursor": "garbage"})
    assert bad_cursor.status_code == 400
    assert "最初のページから開き直してください" in bad_cursor.text
    missing = client.get("/reviews/424242")
    assert missing.status_code == 404
    assert "この口コミは登録されていません" in missing.text


def test_review_detail_and_clinics_pages(client: TestClient, session: Session) -> None:
    clinic = make_clinic(session, "ひかり皮膚科")
    removed = make_review(
        session,
        clinic.listings[0],
        text="090-1234-5678 に電話しろ",
        probability=0.7,
        category="privacy",
        removed_at=datetime(2025, 4, 1, tzinfo=UTC),
    )
    make_review(session, clinic.listings[0], probability=0.1)

    detail = client.get(f"/reviews/{removed.id}").text
    assert "口コミの詳細" in detail
    assert "プライバシー侵害" in detail
    assert "掲載元から削除済み" in detail
    assert "法的な判断ではありません" in detail
    assert "test-model-1" in detail

    clinics = client.get("/clinics").text
    assert "ひかり皮膚科" in clinics
    assert clinic.listings[0].url in clinics
    assert "未巡回" in clinics
    # 2 reviews, 1 flagged (linked to the filtered queue)
    assert re.search(
        rf'<td class="num">2</td>\s*<td class="num"><a href="/\?clinic_id={clinic.id}">1</a>',
        clinics,
    )


def test_clinics_page_empty_state(client: TestClient) -> None:
    page = client.get("/clinics").text
    assert "医療機関はまだ登録されていません" in page


def test_estimated_dates_are_marked_with_what_the_site_printed(
    client: TestClient, session: Session
) -> None:
    listing = make_clinic(session).listings[0]
    make_review(
        session,
        listing,
        text="推定日付の口コミ",
        posted_at=datetime(2025, 1, 10, tzinfo=UTC),
        posted_at_raw="2か月前",
        posted_at_exact=False,
        probability=0.6,
    )
    make_review(session, listing, text="正確な日付の口コミ", probability=0.7)

    page = client.get("/").text

    assert "2025年1月10日頃" in page
    assert "（掲載表記: 2か月前）" in page
    assert "2025年3月4日頃" not in page  # exact dates carry no hedge
    assert "2025年3月4日" in page
