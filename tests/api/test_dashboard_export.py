"""The dashboard page and the CSV export of the queue, per role."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from kuchikomi.services.dashboard import clinic_summaries, flagged_trend
from models import Decision, TakedownCase
from tests.api.conftest import LoginAs
from tests.api.factories import make_clinic, make_review

BOM = b"\xef\xbb\xbf"


def read_csv(response_content: bytes) -> list[dict[str, str]]:
    assert response_content.startswith(BOM)
    text = response_content.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_csv_export_neutralises_formulas_and_opens_as_utf8_in_excel(
    session: Session, login_as: LoginAs
) -> None:
    listing = make_clinic(session, "さくら内科クリニック").listings[0]
    formula = make_review(
        session,
        listing,
        text='=HYPERLINK("http://evil.example/","詳細")',
        author="@SUM(A1)",
        probability=0.95,
        category="defamation",
        reasons=["「不正請求」"],
    )
    plus = make_review(session, listing, text="+81 90 1234 5678 に電話しろ", probability=0.9)
    minus = make_review(session, listing, text="-1+2 ヤブ医者", author="-匿名", probability=0.8)
    plain = make_review(session, listing, text="院長は裏金を作っている", probability=0.7)
    make_review(session, listing, text="待ち時間が長い", probability=0.1)

    response = login_as("reviewer").get("/api/v1/reviews.csv?flagged=true")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith('attachment; filename="kuchikomi-')
    assert b"\r\n" in response.content  # what Excel expects
    rows = read_csv(response.content)
    # The queue's order; the unflagged review is not in the queue export.
    assert [int(r["口コミID"]) for r in rows] == [formula.id, plus.id, minus.id, plain.id]
    first = rows[0]
    assert first["本文"] == '\'=HYPERLINK("http://evil.example/","詳細")'
    assert first["投稿者"] == "'@SUM(A1)"
    assert first["医療機関"] == "さくら内科クリニック"
    assert first["分類"] == "名誉毀損" and first["分類コード"] == "defamation"
    assert first["判定"] == "有害の疑い" and first["判定コード"] == "harmful"
    assert first["有害確率"] == "0.95"
    assert first["要確認"] == "はい" and first["理由"] == "「不正請求」"
    assert rows[1]["本文"] == "'+81 90 1234 5678 に電話しろ"
    assert rows[2]["本文"] == "'-1+2 ヤブ医者" and rows[2]["投稿者"] == "'-匿名"
    assert rows[3]["本文"] == "院長は裏金を作っている"
    # No cell of the file starts a formula.
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@")), value


def test_csv_export_holds_every_page_and_only_the_callers_clinics(
    session: Session, login_as: LoginAs, client: TestClient
) -> None:
    mine = make_clinic(session, "自院")
    other = make_clinic(session, "他院")
    for i in range(230):  # more than one page of the paginated queue (200)
        make_review(
            session, mine.listings[0], text=f"口コミ{i}", probability=0.5 + i / 1000, commit=False
        )
    make_review(session, other.listings[0], text="他院の口コミ", probability=0.99, commit=False)
    session.commit()

    everything = read_csv(login_as("admin").get("/api/v1/reviews.csv").content)
    assert len(everything) == 231

    clinic_user = login_as("clinic", clinic_ids=[mine.id])
    rows = read_csv(clinic_user.get("/api/v1/reviews.csv?flagged=true").content)
    assert len(rows) == 230
    assert {r["医療機関"] for r in rows} == {"自院"}
    probabilities = [float(r["有害確率"]) for r in rows]
    assert probabilities == sorted(probabilities, reverse=True)
    # Another clinic's id answers like an unknown one.
    assert clinic_user.get(f"/api/v1/reviews.csv?clinic_id={other.id}").status_code == 404
    assert clinic_user.get("/api/v1/reviews.csv?clinic_id=999999").status_code == 404
    assert client.get("/api/v1/reviews.csv").status_code == 401
    assert clinic_user.get("/api/v1/reviews.csv?category=nonsense").status_code == 422


def test_dashboard_counts_per_clinic_and_scopes_clinic_users(
    session: Session, login_as: LoginAs, client: TestClient
) -> None:
    a = make_clinic(session, "あおば<script>alert(1)</script>医院")
    b = make_clinic(session, "みなと歯科")
    for p in (0.9, 0.8, 0.2):
        make_review(session, a.listings[0], probability=p)
    make_review(
        session, a.listings[0], probability=0.95, removed_at=datetime(2025, 4, 1, tzinfo=UTC)
    )
    make_review(session, b.listings[0], probability=0.6)

    page = login_as("reviewer").get("/dashboard")

    assert page.status_code == 200
    html = page.text
    assert "ダッシュボード" in html
    assert "<script>alert(1)</script>" not in html
    assert "あおば&lt;script&gt;alert(1)&lt;/script&gt;医院" in html
    assert f'<a href="/?clinic_id={a.id}">3</a>' in html  # 3 flagged, one of them removed
    assert f'href="/api/v1/reviews.csv?flagged=true&amp;clinic_id={b.id}"' in html
    assert "<dt>要確認</dt><dd>4件</dd>" in html

    own = login_as("clinic", clinic_ids=[b.id]).get("/dashboard").text
    assert "みなと歯科" in own and "あおば" not in own
    assert "<dt>要確認</dt><dd>1件</dd>" in own
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_weekly_trend_counts_reviews_by_post_date_not_by_first_crawl(session: Session) -> None:
    """A listing registered today brings years of old reviews: they belong to the weeks they
    were posted in, not to this week."""
    clinic = make_clinic(session, "A")
    now = datetime(2025, 6, 11, 3, 0, tzinfo=UTC)  # a Wednesday in Tokyo
    first_crawl = now - timedelta(hours=2)
    posted = [
        datetime(2024, 1, 5, tzinfo=UTC),  # long ago: not on the chart
        datetime(2025, 5, 27, 3, 0, tzinfo=UTC),  # two weeks ago
        datetime(2025, 6, 10, 3, 0, tzinfo=UTC),  # this week
    ]
    for when in posted:
        review = make_review(session, clinic.listings[0], probability=0.9, posted_at=when)
        review.first_seen_at = first_crawl
    # A date in the future of its sighting (a wrong clock on the site) counts when first seen.
    ahead = make_review(
        session, clinic.listings[0], probability=0.1, posted_at=now + timedelta(days=30)
    )
    ahead.first_seen_at = first_crawl
    session.commit()

    trend = flagged_trend(session=session, clinic_ids=None, now=now)
    assert [(w.reviews, w.flagged) for w in trend[-3:]] == [(1, 1), (0, 0), (2, 1)]
    assert sum(w.reviews for w in trend) == 3


def test_summaries_and_weekly_trend(session: Session) -> None:
    a = make_clinic(session, "A")
    b = make_clinic(session, "B")
    now = datetime(2025, 6, 11, 3, 0, tzinfo=UTC)  # a Wednesday in Tokyo
    seen = {
        # this week (from Monday 2025-06-09 JST)
        (a, 0.9): now - timedelta(days=1),
        (a, 0.1): now - timedelta(days=2),
        # last week; Sunday 23:30 JST still belongs to it
        (a, 0.8): datetime(2025, 6, 8, 14, 30, tzinfo=UTC),
        (b, 0.7): now - timedelta(days=8),
        # long ago: outside the 12 weeks and the 30 days
        (a, 0.95): now - timedelta(days=200),
    }
    for (clinic, p), first_seen in seen.items():
        # No post date known: counted when first seen.
        review = make_review(session, clinic.listings[0], probability=p, posted_at=None)
        review.first_seen_at = first_seen
    unclassified = make_review(session, b.listings[0], posted_at=None)
    unclassified.first_seen_at = now - timedelta(hours=1)
    session.commit()

    trend = flagged_trend(session=session, clinic_ids=None, now=now)
    assert len(trend) == 12
    assert trend[-1].start.isoformat() == "2025-06-09"
    assert (trend[-1].reviews, trend[-1].flagged) == (3, 1)
    assert (trend[-2].reviews, trend[-2].flagged) == (2, 2)
    assert sum(w.reviews for w in trend[:-2]) == 0
    only_a = flagged_trend(session=session, clinic_ids=[a.id], now=now)
    assert [(w.reviews, w.flagged) for w in only_a[-2:]] == [(1, 1), (2, 1)]

    summaries = {s.name: s for s in clinic_summaries(session=session, clinic_ids=None, now=now)}
    assert (summaries["A"].reviews, summaries["A"].flagged, summaries["A"].flagged_recent) == (
        4,
        3,
        2,
    )
    assert (summaries["B"].reviews, summaries["B"].flagged, summaries["B"].flagged_recent) == (
        2,
        1,
        1,
    )
    assert [s.name for s in clinic_summaries(session=session, clinic_ids=[b.id])] == ["B"]


def test_open_takedown_cases_are_counted_per_clinic(session: Session, login_as: LoginAs) -> None:
    a = make_clinic(session, "A")
    b = make_clinic(session, "B")
    for clinic, status in ((a, "draft"), (a, "sent"), (a, "removed"), (b, "refused")):
        review = make_review(session, clinic.listings[0], probability=0.9)
        session.add(TakedownCase(review_id=review.id, status=status))
    session.commit()

    summaries = {s.name: s for s in clinic_summaries(session=session, clinic_ids=None)}
    assert (summaries["A"].open_cases, summaries["B"].open_cases) == (2, 0)
    html = login_as("admin").get("/dashboard").text
    assert "<dt>対応中の削除依頼</dt><dd>2件</dd>" in html


def test_queue_page_links_to_the_csv_of_what_it_shows(session: Session, login_as: LoginAs) -> None:
    clinic = make_clinic(session, "さくら内科")
    other = make_clinic(session, "みどり歯科")
    decided = make_review(
        session,
        clinic.listings[0],
        text="裏金",
        probability=0.9,
        posted_at=datetime(2025, 3, 1, tzinfo=UTC),
    )
    make_review(
        session,
        clinic.listings[0],
        text="ブス",
        probability=0.8,
        posted_at=datetime(2025, 4, 1, tzinfo=UTC),
    )
    may = datetime(2025, 5, 1, tzinfo=UTC)
    make_review(session, clinic.listings[0], text="普通", probability=0.1, posted_at=may)
    make_review(session, other.listings[0], text="他院", probability=0.99, posted_at=may)
    session.add(Decision(review_id=decided.id, decision="harmful", category="defamation", note=""))
    session.commit()
    reviewer = login_as("reviewer")

    page = reviewer.get(f"/?clinic_id={clinic.id}&decision=undecided").text
    link = re.search(r'<a href="([^"]+)" download>この一覧をCSVで書き出す', page)
    assert link is not None
    url = html.unescape(link[1])
    assert url == f"/api/v1/reviews.csv?flagged=true&clinic_id={clinic.id}&decision=undecided"
    assert [r["本文"] for r in read_csv(reviewer.get(url).content)] == ["ブス"]

    rows = read_csv(reviewer.get(f"/api/v1/reviews.csv?clinic_id={clinic.id}").content)
    assert [r["本文"] for r in rows] == ["普通", "ブス", "裏金"]  # every review, newest first
    # People read Japanese names and Japan time; the codes stay in their own columns.
    assert rows[2]["担当者の判断"] == "有害" and rows[2]["判断コード"] == "harmful"
    assert rows[1]["担当者の判断"] == "" and rows[1]["判断コード"] == ""
    assert rows[2]["投稿日時（日本時間）"] == "2025-03-01 09:00"  # 00:00 UTC
    march = read_csv(
        reviewer.get("/api/v1/reviews.csv?posted_from=2025-03-01&posted_to=2025-03-31").content
    )
    assert [r["口コミID"] for r in march] == [str(decided.id)]
    # The queue hides decided reviews unless asked; its CSV holds what it shows.
    shown = re.search(r'<a href="([^"]+)" download>', reviewer.get("/?show=all").text)
    assert shown is not None
    assert html.unescape(shown[1]) == "/api/v1/reviews.csv?decision=undecided"
    all_link = re.search(
        r'<a href="([^"]+)" download>', reviewer.get("/?show=all&decision=all").text
    )
    assert all_link is not None and html.unescape(all_link[1]) == "/api/v1/reviews.csv"
    assert reviewer.get("/api/v1/reviews.csv?decision=maybe").status_code == 422
