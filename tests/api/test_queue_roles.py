"""The review queue seen through roles and filters: clinic users see only their clinics (another
clinic's review is 404 by id, through filters and on pages), filters for source, decision status
and dates, keyset pages under filters, and the review page with bursts and captures."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from classifier.training import TrainedModel
from models import Burst, BurstReview, EvidenceRecord, Listing, Review, ReviewSighting
from tests.api.conftest import LoggedInClient, LoginAs
from tests.api.factories import make_clinic, make_review


@pytest.fixture
def two_clinics(session: Session) -> dict[str, Any]:
    mine = make_clinic(session, "自院クリニック")
    other = make_clinic(session, "他院クリニック")
    return {
        "mine": mine,
        "other": other,
        "mine_review": make_review(
            session, mine.listings[0], text="自院への中傷", probability=0.7, category="insult"
        ),
        "other_review": make_review(
            session, other.listings[0], text="他院への中傷", probability=0.9, category="insult"
        ),
    }


def test_clinic_user_sees_only_its_clinics_reviews(
    login_as: LoginAs, two_clinics: dict[str, Any]
) -> None:
    clinic_client = login_as("clinic", clinic_ids=[two_clinics["mine"].id])
    mine, other = two_clinics["mine_review"], two_clinics["other_review"]

    for params in ({}, {"flagged": "true"}, {"flagged": "false"}, {"category": "insult"}):
        items = clinic_client.get("/api/v1/reviews", params=params).json()["items"]
        assert {i["clinic_id"] for i in items} <= {two_clinics["mine"].id}, params
    queue = clinic_client.get("/api/v1/reviews", params={"flagged": "true"}).json()["items"]
    assert [i["id"] for i in queue] == [mine.id]
    assert clinic_client.get(f"/api/v1/reviews/{mine.id}").status_code == 200

    by_id = clinic_client.get(f"/api/v1/reviews/{other.id}")
    missing = clinic_client.get(f"/api/v1/reviews/{other.id + 1000}")
    assert by_id.status_code == missing.status_code == 404
    assert by_id.json()["detail"] == f"review {other.id} does not exist"

    # Through the clinic filter: another clinic answers like a clinic that does not exist.
    other_id = two_clinics["other"].id
    by_filter = clinic_client.get("/api/v1/reviews", params={"clinic_id": other_id})
    assert by_filter.status_code == 404
    assert by_filter.json()["detail"] == f"clinic {other_id} does not exist"


def test_clinic_user_pages_hide_other_clinics(
    login_as: LoginAs, two_clinics: dict[str, Any]
) -> None:
    clinic_client = login_as("clinic", clinic_ids=[two_clinics["mine"].id])
    other = two_clinics["other_review"]

    for path in ("/", "/reviews", "/reviews?show=all", "/clinics"):
        page = clinic_client.get(path).text
        assert "他院" not in page, path
    assert "自院への中傷" in clinic_client.get("/reviews").text
    assert clinic_client.get(f"/reviews/{other.id}").status_code == 404
    assert clinic_client.get(f"/reviews?clinic_id={two_clinics['other'].id}").status_code == 404


def test_reviewers_and_admins_see_every_clinic(
    reviewer_client: LoggedInClient, admin_client: LoggedInClient, two_clinics: dict[str, Any]
) -> None:
    for staff in (reviewer_client, admin_client):
        items = staff.get("/api/v1/reviews", params={"flagged": "true"}).json()["items"]
        # Most probably harmful first, whichever clinic it is about.
        assert [i["text"] for i in items] == ["他院への中傷", "自院への中傷"]


def test_queue_is_by_probability_then_newest(
    reviewer_client: LoggedInClient, session: Session
) -> None:
    listing = make_clinic(session).listings[0]
    older = make_review(session, listing, probability=0.8)
    newer = make_review(session, listing, probability=0.8)
    top = make_review(session, listing, probability=0.95)
    make_review(session, listing, probability=0.2)  # not flagged

    items = reviewer_client.get("/api/v1/reviews", params={"flagged": "true"}).json()["items"]

    assert [i["id"] for i in items] == [top.id, newer.id, older.id]


def _ids(client: TestClient, **params: Any) -> list[int]:
    response = client.get("/api/v1/reviews", params={"flagged": "true", **params})
    assert response.status_code == 200, response.text
    return [i["id"] for i in response.json()["items"]]


def test_filters_by_source_decision_and_post_date(
    reviewer_client: LoggedInClient, session: Session
) -> None:
    clinic = make_clinic(session)
    qlife = Listing(
        clinic_id=clinic.id, url="https://www.qlife.jp/kuchikomi_list_1_1", source="qlife"
    )
    session.add(qlife)
    session.commit()
    march = make_review(
        session,
        clinic.listings[0],
        probability=0.9,
        # 3月31日 23:30 in Japan: still March there, although April 1st has not begun in UTC.
        posted_at=datetime(2025, 3, 31, 14, 30, tzinfo=UTC),
    )
    april = make_review(
        session,
        clinic.listings[0],
        probability=0.8,
        posted_at=datetime(2025, 3, 31, 15, 30, tzinfo=UTC),  # 4月1日 00:30 in Japan
    )
    from_qlife = make_review(session, qlife, probability=0.7, posted_at=None)
    reviewer_client.post(
        f"/api/v1/reviews/{march.id}/decision", json={"decision": "harmful", "category": "insult"}
    )
    reviewer_client.post(f"/api/v1/reviews/{april.id}/decision", json={"decision": "criticism"})
    reviewer_client.post(f"/api/v1/reviews/{april.id}/decision", json={"decision": "unsure"})

    assert _ids(reviewer_client, source="qlife") == [from_qlife.id]
    assert _ids(reviewer_client, source="schema_org") == [march.id, april.id]
    assert _ids(reviewer_client, decision="undecided") == [from_qlife.id]
    assert _ids(reviewer_client, decision="harmful") == [march.id]
    # Only the latest decision counts: april was "criticism", then "unsure".
    assert _ids(reviewer_client, decision="criticism") == []
    assert _ids(reviewer_client, decision="unsure") == [april.id]
    assert _ids(reviewer_client, posted_to="2025-03-31") == [march.id]
    assert _ids(reviewer_client, posted_from="2025-04-01") == [april.id]
    assert _ids(reviewer_client, posted_from="2025-03-31", posted_to="2025-04-01") == [
        march.id,
        april.id,
    ]
    for bad in ({"decision": "maybe"}, {"posted_from": "31/03/2025"}, {"source": "Q LIFE"}):
        assert reviewer_client.get("/api/v1/reviews", params=bad).status_code == 422, bad

    page = reviewer_client.get("/reviews", params={"decision": "unsure", "source": "schema_org"})
    assert f'href="/reviews/{april.id}"' in page.text
    assert f'href="/reviews/{march.id}"' not in page.text
    assert "判断済み: 保留" in page.text
    bad_page = reviewer_client.get("/reviews", params={"posted_from": "yesterday"})
    assert bad_page.status_code == 400 and "YYYY-MM-DD" in bad_page.text


def test_keyset_pages_under_a_filter_cover_each_review_once(
    reviewer_client: LoggedInClient, session: Session
) -> None:
    listing = make_clinic(session).listings[0]
    wanted = {
        make_review(session, listing, probability=p).id for p in (0.9, 0.8, 0.8, 0.8, 0.7, 0.6)
    }
    for r in (make_review(session, listing, probability=0.85) for _ in range(3)):
        reviewer_client.post(f"/api/v1/reviews/{r.id}/decision", json={"decision": "criticism"})

    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"flagged": "true", "decision": "undecided", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = reviewer_client.get("/api/v1/reviews", params=params).json()
        seen += [i["id"] for i in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) and set(seen) == wanted


def test_review_page_shows_bursts_captures_and_removal(
    reviewer_client: LoggedInClient, session: Session
) -> None:
    listing = make_clinic(session).listings[0]
    review = make_review(
        session,
        listing,
        text="<script>alert(1)</script>院長はクズ",
        probability=0.9,
        category="insult",
        reasons=["「クズ」: 侮辱表現"],
        removed_at=datetime(2025, 4, 2, 3, 0, tzinfo=UTC),
    )
    start = datetime(2025, 3, 1, tzinfo=UTC)
    burst = Burst(
        clinic_id=listing.clinic_id,
        kind="harmful",
        start=start,
        end=start + timedelta(days=1),
        observed=9,
        expected=0.5,
        score=6.2,
        harmful_share=0.9,
        alarm_at=start + timedelta(days=1),
        details={},
    )
    burst.members = [BurstReview(review_id=review.id)]
    evidence = EvidenceRecord(
        listing_id=listing.id,
        url=listing.url,
        status_code=200,
        fetched_at=datetime(2025, 3, 5, 1, 0, tzinfo=UTC),
        warc_path="warc/x.warc.gz",
        warc_offset=0,
        warc_length=10,
        payload_sha256="ab" * 32,
        warc_record_id="<urn:uuid:1>",
    )
    session.add_all([burst, evidence])
    session.flush()
    session.add(ReviewSighting(review_id=review.id, evidence_id=evidence.id))
    session.commit()

    detail = reviewer_client.get(f"/api/v1/reviews/{review.id}").json()
    page = reviewer_client.get(f"/reviews/{review.id}").text

    assert [(b["id"], b["kind"]) for b in detail["bursts"]] == [(burst.id, "harmful")]
    assert detail["sightings"][0]["payload_sha256"] == "ab" * 32
    assert detail["removed_at"].startswith("2025-04-02")
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;院長はクズ" in page
    assert "有害の疑いがある投稿の急増" in page
    assert "2025年3月1日〜2025年3月2日" in page
    assert "2025年3月5日 10:00" in page  # the capture, in Japan time
    assert "abababababababab…" in page
    assert "掲載元から削除済み（2025年4月2日確認）" in page
    assert "「クズ」: 侮辱表現" in page and "90%" in page


def test_a_review_without_bursts_or_captures_says_so(
    reviewer_client: LoggedInClient, session: Session
) -> None:
    review: Review = make_review(session, make_clinic(session).listings[0], probability=0.6)
    page = reviewer_client.get(f"/reviews/{review.id}").text
    assert "集中投稿は検出されていません" in page
    assert "保存したページはありません" in page
    assert "まだ判断されていません" in page


def _crawler_saves(listing: Listing) -> Any:
    """Store one review the way a crawl of ``listing`` does (page 1, external id r-1)."""
    from crawler.items import ReviewItem, ReviewPageItem
    from crawler.store import save_page

    def crawl(text: str, rating: float) -> None:
        item = ReviewItem(
            external_id="r-1",
            author="通りすがり",
            rating=rating,
            text=text,
            posted_at=None,
            posted_at_raw="3日前",
            posted_at_exact=False,
            url=None,
            content_hash=f"{text}|{rating}".encode().hex()[:64],
        )
        page = ReviewPageItem(
            listing_id=listing.id, page_url=listing.url, page_number=1, evidence_id=None
        )
        page.reviews.append(item)
        save_page(run_id=1, page=page, evidence_id=None)

    return crawl


def test_review_edited_on_the_site_keeps_its_earlier_wording(
    reviewer_client: LoggedInClient, session: Session
) -> None:
    listing = make_clinic(session).listings[0]
    crawl = _crawler_saves(listing)

    crawl("院長は<b>詐欺師</b>だ", 1.0)
    crawl("院長は<b>詐欺師</b>だ", 1.0)  # unchanged: no revision
    crawl("対応が悪かった", 2.0)  # edited on the site
    review_id = session.scalar(select(Review.id).where(Review.listing_id == listing.id))

    detail = reviewer_client.get(f"/api/v1/reviews/{review_id}").json()
    page = reviewer_client.get(f"/reviews/{review_id}").text

    assert detail["text"] == "対応が悪かった"
    assert [(r["text"], r["rating"]) for r in detail["revisions"]] == [
        ("院長は<b>詐欺師</b>だ", 1.0)
    ]
    assert "編集履歴" in page and "以前の本文" in page
    assert "院長は&lt;b&gt;詐欺師&lt;/b&gt;だ" in page and "<b>詐欺師</b>" not in page


def test_review_edited_on_the_site_is_classified_again(
    reviewer_client: LoggedInClient, session: Session, trained_model: TrainedModel
) -> None:
    from kuchikomi.services.classification import classify_reviews

    listing = make_clinic(session).listings[0]
    crawl = _crawler_saves(listing)
    model = trained_model.classifier

    def classify() -> int:
        n = classify_reviews(session=session, model=model, progress=False)
        session.commit()
        return n

    crawl("院長は保険の不正請求をしている詐欺師だ。絶対に許さない、家を燃やしてやる", 1.0)
    assert classify() == 1
    review_id = session.scalar(select(Review.id).where(Review.listing_id == listing.id))
    assert reviewer_client.get(f"/api/v1/reviews/{review_id}").json()["flagged"] is True

    crawl("待ち時間が長かったが、先生の説明は丁寧だった。", 4.0)  # the author rewrote it
    session.expire_all()
    detail = reviewer_client.get(f"/api/v1/reviews/{review_id}").json()
    # No stale verdict on the new wording: unclassified until the classify step runs.
    assert detail["label"] is None and detail["harmful_probability"] is None
    assert detail["flagged"] is False

    assert classify() == 1  # only the edited review is classified again
    detail = reviewer_client.get(f"/api/v1/reviews/{review_id}").json()
    assert detail["flagged"] is False and detail["label"] != "harmful"
    assert classify() == 0


def test_a_decision_made_before_the_review_was_rewritten_is_marked(
    reviewer_client: LoggedInClient, session: Session
) -> None:
    listing = make_clinic(session).listings[0]
    crawl = _crawler_saves(listing)
    crawl("院長は保険の不正請求をしている", 1.0)
    review_id = session.scalar(select(Review.id).where(Review.listing_id == listing.id))
    decided = reviewer_client.post(
        f"/api/v1/reviews/{review_id}/decision", json={"decision": "criticism", "note": "体験談"}
    )
    assert decided.status_code == 201, decided.text
    notice = "判断の後に、サイト上で本文が書き換えられました"

    assert (
        reviewer_client.get(f"/api/v1/reviews/{review_id}").json()["edited_after_decision"] is False
    )
    assert notice not in reviewer_client.get(f"/reviews/{review_id}").text

    crawl("院長は犯罪者だ。家を燃やしてやる", 1.0)  # rewritten after the decision

    detail = reviewer_client.get(f"/api/v1/reviews/{review_id}").json()
    assert detail["edited_after_decision"] is True and detail["decision"] == "criticism"
    assert notice in reviewer_client.get(f"/reviews/{review_id}").text
    # The queue (API and page) marks it too.
    (item,) = reviewer_client.get("/api/v1/reviews", params={"flagged": "false"}).json()["items"]
    assert item["edited_after_decision"] is True
    assert (
        "判断後に本文が変更"
        in reviewer_client.get("/reviews", params={"show": "all", "decision": "all"}).text
    )
    # So does the CSV export, beside the decision.
    exported = reviewer_client.get("/api/v1/reviews.csv").content.decode("utf-8-sig")
    (row,) = csv.DictReader(io.StringIO(exported, newline=""))
    assert row["判断コード"] == "criticism" and row["判断後に本文変更"] == "はい"
    assert row["担当者の判断"] == "正当な批判"
    # A new decision on the current wording clears the mark.
    redecided = reviewer_client.post(
        f"/api/v1/reviews/{review_id}/decision",
        json={"decision": "harmful", "category": "threat", "note": "脅迫に書き換え"},
    )
    assert redecided.status_code == 201, redecided.text
    assert (
        reviewer_client.get(f"/api/v1/reviews/{review_id}").json()["edited_after_decision"] is False
    )
