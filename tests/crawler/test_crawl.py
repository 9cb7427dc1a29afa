"""Real crawl runs (Scrapy in its own process) against sites served on 127.0.0.1 by the test."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import sys
from datetime import datetime, time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from warcio.archiveiterator import ArchiveIterator

from crawler.archive import sha256_base32
from crawler.dates import JST
from crawler.extract import normalize_text
from kuchikomi.demo.portal import DemoPortal, DemoReview
from kuchikomi.services.crawl import run_crawl
from models import CrawlRun, CrawlRunListing, EvidenceRecord, Review, ReviewSighting
from tests.crawler.conftest import (
    PORTAL_TODAY,
    FixtureSite,
    crawl_log,
    listing,
    register,
    register_portal,
)


def _reviews(session: Session, listing_id: int | None = None) -> list[Review]:
    session.rollback()  # end any earlier read: the crawl process has committed since
    query = select(Review).order_by(Review.id)
    if listing_id is not None:
        query = query.where(Review.listing_id == listing_id)
    return list(session.scalars(query))


def _snapshot(session: Session) -> dict[int, tuple[object, ...]]:
    return {
        r.id: (
            r.listing_id,
            r.external_id,
            r.author,
            r.rating,
            r.text,
            r.posted_at,
            r.posted_at_raw,
            r.posted_at_exact,
            r.first_seen_at,
            r.removed_at,
            r.url,
            r.content_hash,
        )
        for r in _reviews(session)
    }


def _expected_posted_at(review: DemoReview, style: str) -> datetime:
    if style in ("kanji", "slash"):  # the page shows the day only: midnight JST
        return datetime.combine(review.posted.date(), time(0, 0), JST)
    return review.posted


def test_first_crawl_reads_every_review_of_the_portal(
    session: Session, env: Path, demo_portal: DemoPortal, portal_url: str
) -> None:
    ids = register_portal(session, portal_url)

    summary = run_crawl(listing_ids=None)

    assert summary.status == "ok", [o.error for o in summary.listings]
    assert [o.status for o in summary.listings] == ["ok"] * 5
    assert all(o.complete and o.error is None for o in summary.listings)
    assert [o.pages for o in summary.listings] == [
        demo_portal.page_count(c) for c in demo_portal.clinics
    ]
    stored = _reviews(session)
    assert len(stored) == 103
    assert sorted(summary.new_review_ids) == [r.id for r in stored]
    for clinic in demo_portal.clinics:
        expected = {
            normalize_text(r.text): (
                normalize_text(r.author),
                float(r.rating),
                _expected_posted_at(r, clinic.date_style),
            )
            for r in clinic.reviews
        }
        got = _reviews(session, ids[clinic.name])
        assert {r.text for r in got} == set(expected), clinic.name
        for review in got:
            author, rating, posted_at = expected[review.text]
            assert (review.author, review.rating) == (author, rating)
            assert review.posted_at is not None and review.posted_at_raw
            if clinic.date_style == "relative":  # "3日前": an estimate, timed by first-seen
                assert not review.posted_at_exact
            else:
                assert review.posted_at_exact
                assert review.posted_at == posted_at
        outcome = next(o for o in summary.listings if o.listing_id == ids[clinic.name])
        assert outcome.reviews_seen == outcome.reviews_new == len(clinic.reviews)

    # Hostile markup comes through as the text it is, nothing stripped or interpreted.
    assert any("<script>alert(1)</script> 受付で順番" in r.text for r in stored)
    assert any(r.text.startswith("<img src=x onerror=alert(1)>") for r in stored)
    assert any(r.author == "test<script>alert(1)</script>" for r in stored)

    run = session.get(CrawlRun, summary.run_id)
    assert run is not None and run.status == "ok" and run.finished_at is not None
    assert run.stats["reviews_new"] == 103
    assert all(listing(session, i).last_crawl_status == "ok" for i in ids.values())

    # Every fetched response is in the WARC file, and its SHA-256 matches the stored record.
    evidence = list(session.scalars(select(EvidenceRecord).order_by(EvidenceRecord.id)))
    page_urls = {e.url for e in evidence if e.listing_id is not None}
    assert len(page_urls) == sum(o.pages for o in summary.listings)
    assert any(e.url.endswith("/robots.txt") for e in evidence)
    for record in evidence:
        with open(env / record.warc_path, "rb") as fh:
            fh.seek(record.warc_offset)
            chunk = fh.read(record.warc_length)
        records = ArchiveIterator(io.BytesIO(chunk))
        warc = next(records)
        payload = warc.content_stream().read()
        assert next(records, None) is None  # offset and length cut out exactly one record
        assert warc.rec_type == "response"
        assert warc.rec_headers.get_header("WARC-Target-URI") == record.url
        assert warc.rec_headers.get_header("WARC-Record-ID") == record.warc_record_id
        assert hashlib.sha256(payload).hexdigest() == record.payload_sha256
        assert warc.rec_headers.get_header("WARC-Payload-Digest") == sha256_base32(payload)
        assert warc.http_headers.get_statuscode() == str(record.status_code)
    # Each review is linked to the archived page it was read from.
    sighted = session.scalars(select(func.count(func.distinct(ReviewSighting.review_id)))).one()
    assert sighted == 103

    log = crawl_log(env, summary.run_id)
    assert "Traceback" not in log and "] ERROR:" not in log
    # Nothing fetched beyond the sites crawled: never the public suffix list (tldextract).
    assert "publicsuffix" not in log.lower() and "tldextract" not in log.lower()


def test_second_crawl_adds_nothing_changes_nothing_and_stops_early(
    session: Session, env: Path, demo_portal: DemoPortal, portal_url: str
) -> None:
    ids = register_portal(session, portal_url)
    first = run_crawl(listing_ids=None)
    assert first.ok
    before = _snapshot(session)

    second = run_crawl(listing_ids=None)

    assert second.ok
    assert second.new_review_ids == []
    assert all(o.reviews_new == 0 and o.reviews_removed == 0 for o in second.listings)
    assert _snapshot(session) == before
    # Newest first and page 1 entirely known: nothing older can be new, so one page is enough.
    assert [o.pages for o in second.listings] == [1] * 5
    assert sum(o.pages for o in second.listings) < sum(o.pages for o in first.listings)

    # A review posted since is still found, and only it is new.
    clinic = demo_portal.clinics[0]
    clinic.reviews.insert(
        0,
        DemoReview(
            id=1999,
            author="新しい患者",
            rating=4,
            text="受付の方が親切でした。",
            posted=datetime.combine(PORTAL_TODAY, time(10, 0), JST),
        ),
    )
    third = run_crawl(listing_ids=[ids[clinic.name]])
    assert third.ok
    (new,) = third.new_review_ids
    assert session.get(Review, new).text == "受付の方が親切でした。"  # type: ignore[union-attr]
    assert len(_reviews(session)) == 104


def test_only_a_full_crawl_marks_taken_down_reviews_removed(
    session: Session, env: Path, demo_portal: DemoPortal, portal_url: str
) -> None:
    ids = register_portal(session, portal_url)
    clinic = demo_portal.clinics[0]  # 24 reviews, 3 pages
    listing_id = ids[clinic.name]
    assert run_crawl(listing_ids=[listing_id]).ok
    taken_down = {clinic.reviews[1].id, clinic.reviews[22].id}  # on page 1 and page 3
    demo_portal.hidden_review_ids |= taken_down
    gone_texts = {normalize_text(r.text) for r in clinic.reviews if r.id in taken_down}

    incremental = run_crawl(listing_ids=[listing_id])
    (outcome,) = incremental.listings
    assert outcome.status == "ok" and not outcome.complete and outcome.reviews_removed == 0
    assert all(r.removed_at is None for r in _reviews(session))

    full = run_crawl(listing_ids=[listing_id], full=True)
    (outcome,) = full.listings
    assert outcome.complete and outcome.reviews_removed == 2
    removed = {r.text for r in _reviews(session) if r.removed_at is not None}
    assert removed == gone_texts

    # Back on the site: no longer removed.
    demo_portal.hidden_review_ids.clear()
    restored = run_crawl(listing_ids=[listing_id], full=True)
    assert restored.listings[0].reviews_removed == 0
    assert all(r.removed_at is None for r in _reviews(session))
    assert len(_reviews(session)) == 24


def _json_ld_page(reviews: list[dict[str, object]], next_href: str | None = None) -> str:
    data = {
        "@context": "https://schema.org",
        "@type": "MedicalClinic",
        "name": "テスト医院",
        "review": reviews,
    }
    link = f'<a href="{next_href}">次へ</a>' if next_href else ""
    return (
        f'<html><head><script type="application/ld+json">{json.dumps(data)}</script></head>'
        f"<body>{link}</body></html>"
    )


def test_broken_listings_fail_with_a_reason_and_the_others_are_crawled(
    session: Session,
    env: Path,
    portal_url: str,
    site: FixtureSite,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUCHIKOMI_CRAWL__TIMEOUT", "1")
    monkeypatch.setenv("KUCHIKOMI_CRAWL__RETRY_TIMES", "0")
    review = {
        "@type": "Review",
        "author": "A",
        "reviewBody": "丁寧でした。",
        "reviewRating": {"ratingValue": 5},
        "datePublished": "2025-05-01",
    }
    urls = {
        "not_found": site.add("/gone", "なし", status=404),
        "server_error": site.add("/error", "error", status=500),
        "timeout": site.add("/slow", _json_ld_page([review]), delay=3),
        "garbage": site.add("/garbage", "<html><body><p>メンテナンス中です</p></body></html>"),
        "binary": site.add("/image", b"\x89PNG\r\n\x1a\n" + bytes(64), content_type="image/png"),
        "mid_pagination": site.add("/paged", _json_ld_page([review], "/paged?page=2")),
        "no_dns": "http://no-such-host.invalid/reviews",
        "robots": f"{portal_url}/admin/reviews",
        "ok": f"{portal_url}/clinics/1/reviews",
    }
    site.add("/paged?page=2", "error", status=500)
    ids = dict(zip(urls, register(session, "いろいろ医院", *urls.values()), strict=True))

    summary = run_crawl(listing_ids=None)

    assert summary.status == "partial"
    outcome = {o.listing_id: o for o in summary.listings}
    assert outcome[ids["ok"]].status == "ok" and outcome[ids["ok"]].reviews_new == 24
    errors = {name: outcome[i].error or "" for name, i in ids.items() if name != "ok"}
    assert all(outcome[ids[name]].status == "failed" for name in errors)
    assert errors["not_found"].startswith("HTTP 404 Not Found")
    assert errors["server_error"].startswith("HTTP 500 Internal Server Error")
    assert errors["timeout"].startswith("timed out after 1 s")
    assert "no schema.org review data" in errors["garbage"]
    assert "not an HTML page (image/png)" in errors["binary"]
    assert "does not resolve" in errors["no_dns"]
    assert errors["robots"].startswith("robots.txt of 127.0.0.1 forbids")
    assert errors["mid_pagination"].startswith("page 2: HTTP 500")
    # The page read before the failure is kept; the listing is not complete.
    assert outcome[ids["mid_pagination"]].reviews_new == 1
    assert not outcome[ids["mid_pagination"]].complete

    session.rollback()
    assert (
        session.scalar(
            select(func.count())
            .select_from(CrawlRunListing)
            .where(CrawlRunListing.status == "pending")
        )
        == 0
    )
    for name, listing_id in ids.items():
        stored = listing(session, listing_id)
        assert stored.last_crawl_status == ("ok" if name == "ok" else "failed")
        assert stored.last_crawl_error == (errors.get(name))
    # Nothing half-written: every stored review is linked to the archived page it came from.
    stored_reviews = _reviews(session)
    assert len(stored_reviews) == 25
    sighted = session.scalar(select(func.count(func.distinct(ReviewSighting.review_id))))
    assert sighted == 25


def test_a_listing_that_stops_showing_reviews_is_reported_not_emptied(
    session: Session, env: Path, site: FixtureSite
) -> None:
    reviews = [
        {
            "@type": "Review",
            "@id": f"#r{i}",
            "author": f"患者{i}",
            "reviewBody": f"感想{i}",
            "reviewRating": {"ratingValue": 4},
            "datePublished": "2025-04-0" + str(i),
        }
        for i in (1, 2)
    ]
    (listing_id,) = register(session, "変わる医院", site.add("/r", _json_ld_page(reviews)))
    assert run_crawl(listing_ids=[listing_id]).ok
    # The site redesigns: the rating summary is still marked up, the reviews no longer are.
    summary_only = {
        "@context": "https://schema.org",
        "@type": "MedicalClinic",
        "aggregateRating": {"@type": "AggregateRating", "ratingValue": 4, "reviewCount": 2},
    }
    site.add("/r", f'<script type="application/ld+json">{json.dumps(summary_only)}</script>')

    summary = run_crawl(listing_ids=[listing_id], full=True)

    (outcome,) = summary.listings
    assert outcome.status == "failed"
    assert "although 2 were shown before" in (outcome.error or "")
    # Not read as a takedown of every review.
    assert [r.removed_at for r in _reviews(session)] == [None, None]


def test_private_addresses_are_refused_at_fetch_time(
    session: Session, env: Path, site: FixtureSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    (listing_id,) = register(session, "ローカル医院", site.add("/reviews", _json_ld_page([])))
    # Registered while allowed (as the demo does); an operator then turns it off.
    monkeypatch.setenv("KUCHIKOMI_ALLOW_PRIVATE_HOSTS", "false")

    summary = run_crawl(listing_ids=[listing_id])

    assert summary.status == "failed"
    (outcome,) = summary.listings
    assert outcome.status == "failed"
    assert "resolves to private 127.0.0.1" in (outcome.error or "")
    assert not site.hits  # not even robots.txt was requested


def test_schema_org_pages_outside_the_portal(
    session: Session, env: Path, site: FixtureSite
) -> None:
    microdata = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>口コミ</title></head>
<body><div itemscope itemtype="http://schema.org/Dentist"><h1 itemprop="name">みどり歯科</h1>
<ul>
 <li itemprop="review" itemscope itemtype="http://schema.org/Review">
  <b itemprop="author">山田</b>
  <div itemprop="reviewRating" itemscope itemtype="http://schema.org/Rating">
    <span itemprop="ratingValue">8</span>/<span itemprop="bestRating">10</span>
    <meta itemprop="worstRating" content="0"></div>
  <time itemprop="datePublished" datetime="2024-11-02">2024年11月2日</time>
  <div itemprop="reviewBody">痛みの少ない治療で　助かりました。</div></li>
 <li itemprop="review" itemscope itemtype="http://schema.org/Review">
  <b itemprop="author">&lt;b&gt;佐藤&lt;/b&gt;</b>
  <div itemprop="reviewRating" itemscope itemtype="http://schema.org/Rating">
    <span itemprop="ratingValue">2</span>/<span itemprop="bestRating">10</span>
    <meta itemprop="worstRating" content="0"></div>
  <time itemprop="datePublished" datetime="2024-10-30T18:20:00+09:00">10月30日</time>
  <div itemprop="reviewBody">説明が雑でした。&lt;script&gt;alert("x")&lt;/script&gt;</div></li>
</ul></div></body></html>"""
    graph_page = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "Physician", "@id": "#doc", "name": "田中医師"},
            {
                "@type": "Review",
                "@id": "#rv-1",
                "itemReviewed": {"@id": "#doc"},
                "author": "鈴木",
                "reviewRating": {"@type": "Rating", "ratingValue": "4"},
                "datePublished": "2024/12/01",
                "reviewBody": "話をよく聞いてくれます。",
            },
        ],
    }
    second = {
        "@context": "https://schema.org",
        "@type": "Review",
        "@id": "#rv-2",
        "author": {"@type": "Person", "name": "高橋"},
        "reviewRating": {"ratingValue": 3},
        "datePublished": "2024-11-20T10:00:00+09:00",
        "reviewBody": "普通です。",
    }
    json_ld_url = site.add(
        "/doctor/9",
        f'<script type="application/ld+json">{json.dumps(graph_page)}</script>'
        '<p><a href="/doctor/9?p=2">次のページ ›</a></p>',
    )
    site.add("/doctor/9?p=2", f'<script type="application/ld+json">{json.dumps(second)}</script>')
    shift_jis = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">'
        '</head><body><div itemscope itemtype="https://schema.org/Review">'
        '<span itemprop="author">いわさき</span>'
        '<span itemprop="reviewRating" itemscope itemtype="https://schema.org/Rating">'
        '<span itemprop="ratingValue">5</span></span>'
        '<span itemprop="datePublished">2023年7月7日</span>'
        '<p itemprop="reviewBody">予約なしでも丁寧に診ていただきました。</p>'
        "</div></body></html>"
    ).encode("shift_jis")
    microdata_id, json_ld_id, sjis_id = register(
        session,
        "外部サイト",
        site.add("/dentist", microdata),
        json_ld_url,
        # No charset in the header: the page's own meta tag says Shift_JIS.
        site.add("/sjis", shift_jis, content_type="text/html"),
    )

    summary = run_crawl(listing_ids=None)

    assert summary.ok, [o.error for o in summary.listings]
    got = {
        i: [(r.author, r.rating, r.posted_at, r.text) for r in _reviews(session, i)]
        for i in (microdata_id, json_ld_id, sjis_id)
    }
    assert sorted(got[microdata_id]) == sorted(
        [
            (
                "山田",
                1 + 4 * 0.8,
                datetime(2024, 11, 2, tzinfo=JST),
                "痛みの少ない治療で 助かりました。",
            ),
            (
                "<b>佐藤</b>",
                1 + 4 * 0.2,
                datetime(2024, 10, 30, 18, 20, tzinfo=JST),
                '説明が雑でした。<script>alert("x")</script>',
            ),
        ]
    )
    assert got[json_ld_id] == [
        ("鈴木", 4.0, datetime(2024, 12, 1, tzinfo=JST), "話をよく聞いてくれます。"),
        ("高橋", 3.0, datetime(2024, 11, 20, 10, 0, tzinfo=JST), "普通です。"),
    ]
    assert [o.pages for o in summary.listings] == [1, 2, 1]
    assert got[sjis_id] == [
        (
            "いわさき",
            5.0,
            datetime(2023, 7, 7, tzinfo=JST),
            "予約なしでも丁寧に診ていただきました。",
        ),
    ]
    # The site's own review ids are kept as they are: stable whichever page a review is on.
    assert [r.external_id for r in _reviews(session, json_ld_id)] == ["#rv-1", "#rv-2"]


def test_unknown_listing_ids_are_refused_and_no_run_is_recorded(
    session: Session, env: Path
) -> None:
    with pytest.raises(ValueError, match="unknown listing id"):
        run_crawl(listing_ids=[424242])
    with pytest.raises(ValueError, match="no listings are registered"):
        run_crawl(listing_ids=None)
    assert session.scalar(select(func.count()).select_from(CrawlRun)) == 0


def test_a_crawler_that_dies_leaves_its_listings_failed_not_pending(
    session: Session,
    env: Path,
    portal_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = register_portal(session, portal_url)
    # Stands in for the interpreter: the crawl process is killed as soon as it starts.
    killed = tmp_path / "killed-python"
    killed.write_text("#!/bin/sh\nkill -9 $$\n")
    killed.chmod(killed.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(sys, "executable", str(killed))

    summary = run_crawl(listing_ids=list(ids.values()))

    assert summary.status == "failed"
    assert all(o.status == "failed" for o in summary.listings)
    assert all("exited with code -9" in (o.error or "") for o in summary.listings)
    session.rollback()
    run = session.get(CrawlRun, summary.run_id)
    assert run is not None and run.status == "failed" and run.finished_at is not None
    assert session.scalar(select(func.count()).select_from(Review)) == 0
    assert all(listing(session, i).last_crawl_status == "failed" for i in ids.values())
