"""Parsing saved responses: reviews from JSON-LD and microdata, pagination, ids, normalisation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest

from crawler.extract import extract_page, normalize_text
from crawler.sites import SCHEMA_ORG

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2025, 6, 1, 3, 0, tzinfo=UTC)
BASE = "http://portal.example"


def _page(name: str, page_url: str, listing_url: str | None = None):  # noqa: ANN202
    html = (FIXTURES / name).read_text("utf-8")
    return extract_page(
        html, page_url=page_url, listing_url=listing_url or page_url, site=SCHEMA_ORG, now=NOW
    )


def _demo_texts(clinic_id: int) -> list[str]:
    data = json.loads(
        resources.files("kuchikomi.demo").joinpath("site/clinics.json").read_text("utf-8")
    )
    clinic = next(c for c in data["clinics"] if c["id"] == clinic_id)
    ordered = sorted(clinic["reviews"], key=lambda r: (r["days_ago"], -r["minute_of_day"]))
    return [normalize_text(r["text"]) for r in ordered]


def test_json_ld_page_with_rel_next() -> None:
    url = f"{BASE}/clinics/1/reviews"
    page = _page("portal_jsonld_rel_next.html", url)
    assert page.has_review_markup
    assert page.next_url == f"{url}?page=2"
    assert [r.text for r in page.reviews] == _demo_texts(1)[:10]
    first = page.reviews[0]
    assert first.external_id == f"{BASE}/clinics/1/reviews/1001"
    assert first.url == first.external_id
    assert (first.author, first.rating) == ("ゆうこ", 5.0)
    # 2025年5月31日 (JST midnight)
    assert first.posted_at == datetime(2025, 5, 30, 15, 0, tzinfo=UTC)
    assert first.posted_at_raw == "2025年5月31日"
    assert first.posted_at_exact


def test_microdata_page_with_next_text_link_and_no_review_ids() -> None:
    url = f"{BASE}/clinics/2/reviews"
    page = _page("portal_microdata_next_text.html", url)
    assert page.next_url == f"{url}?page=2"
    assert [r.text for r in page.reviews] == _demo_texts(2)[:10]
    assert all(r.author and r.rating and r.posted_at and r.posted_at_exact for r in page.reviews)
    # No id on the page: a content hash, the same every time the page is read.
    assert all(r.external_id.startswith("sha256:") for r in page.reviews)
    again = _page("portal_microdata_next_text.html", url)
    assert [r.external_id for r in again.reviews] == [r.external_id for r in page.reviews]
    assert len({r.external_id for r in page.reviews}) == 10
    # NFKC: the full-width parentheses of the privacy-leak review become ASCII.
    assert "受付の田中さん(090-1234-5678)" in page.reviews[1].text


def test_relative_dates_are_estimates_and_ids_come_from_the_site() -> None:
    page = _page(
        "portal_jsonld_relative_dates.html",
        f"{BASE}/clinics/3/reviews?page=1",
        f"{BASE}/clinics/3/reviews",
    )
    raws = [r.posted_at_raw for r in page.reviews]
    assert raws[:3] == ["今日", "今日", "今日"]
    assert "昨日" in raws and "3日前" in raws
    assert all(not r.posted_at_exact for r in page.reviews)
    assert all(r.posted_at is not None and r.posted_at <= NOW for r in page.reviews)
    assert all(r.external_id.startswith(f"{BASE}/clinics/3/reviews/") for r in page.reviews)


def test_last_page_has_no_next_url() -> None:
    page = _page(
        "portal_jsonld_graph_last_page.html",
        f"{BASE}/clinics/5/reviews?page=2",
        f"{BASE}/clinics/5/reviews",
    )
    assert page.next_url is None
    assert len(page.reviews) == 5


def test_hostile_markup_in_reviews_is_kept_as_text() -> None:
    page = _page("portal_jsonld_graph_hostile.html", f"{BASE}/clinics/5/reviews")
    texts = [r.text for r in page.reviews]
    authors = [r.author for r in page.reviews]
    assert any("<script>alert(1)</script> 受付で順番" in t for t in texts)
    assert any(t.startswith("<img src=x onerror=alert(1)>") for t in texts)
    assert "test<script>alert(1)</script>" in authors


def test_page_without_review_markup_is_reported() -> None:
    html = "<html><body><h1>メンテナンス中</h1><a href='?page=2'>次へ</a></body></html>"
    page = extract_page(
        html, page_url=f"{BASE}/x", listing_url=f"{BASE}/x", site=SCHEMA_ORG, now=NOW
    )
    assert not page.has_review_markup
    assert page.reviews == []


def test_other_rating_scales_headlines_and_untrustworthy_ids() -> None:
    reviews = [
        {
            "@type": "Review",
            "url": f"{BASE}/list",
            "name": "最悪の対応",
            "reviewBody": "二度と行かない。",
            "author": "A",
            "reviewRating": {"ratingValue": "2", "bestRating": "10", "worstRating": "0"},
            "datePublished": "2025-01-02",
        },
        {
            "@type": "Review",
            "url": f"{BASE}/list",
            "reviewBody": "  丁寧\u3000でした。\r\n\r\n\r\n助かりました ",
            "author": {"@type": "Person", "name": "B"},
            "reviewRating": {"ratingValue": 90, "bestRating": 100},
            "datePublished": "2025-01-03",
        },
        {"@type": "Review", "reviewRating": {"ratingValue": "7", "bestRating": "5"}},
    ]
    html = (
        '<script type="application/ld+json">'
        + json.dumps({"@context": "https://schema.org", "@type": "Dentist", "review": reviews})
        + "</script>"
    )
    page = extract_page(
        html, page_url=f"{BASE}/list", listing_url=f"{BASE}/list", site=SCHEMA_ORG, now=NOW
    )
    first, second = page.reviews  # the third has neither text nor a usable rating
    assert first.text == "最悪の対応\n二度と行かない。"
    assert first.rating == pytest.approx(1.8)
    assert second.text == "丁寧 でした。\n\n助かりました"
    assert second.rating == pytest.approx(1 + 4 * (90 - 1) / (100 - 1), abs=0.01)
    # Every review carries the listing URL as "url": that is no id, so content hashes are used.
    assert first.external_id.startswith("sha256:") and second.external_id.startswith("sha256:")


def test_pagination_never_leaves_the_listing_site() -> None:
    html = (
        '<script type="application/ld+json">{"@type": "Review", "reviewBody": "x"}</script>'
        '<a rel="next" href="https://elsewhere.example/page2">次へ</a>'
        '<a href="/reviews?p=2">次のページ</a>'
    )
    page = extract_page(
        html, page_url=f"{BASE}/reviews", listing_url=f"{BASE}/reviews", site=SCHEMA_ORG, now=NOW
    )
    assert page.next_url == f"{BASE}/reviews?p=2"
