"""Characters the database cannot hold never cost a page, a page that cannot be stored fails its
listing, and an oversized review is stored cut (docs/contracts.md#text-limits)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from kuchikomi.services.crawl import run_crawl
from models import Review
from models.db import get_engine
from models.text import MAX_REVIEW_CHARS
from tests.crawler.conftest import FixtureSite, crawl_log, listing, register


def _page(reviews: list[dict[str, object]], next_href: str | None = None) -> str:
    data = {"@context": "https://schema.org", "@type": "MedicalClinic", "review": reviews}
    link = f'<a href="{next_href}">次へ</a>' if next_href else ""
    # json.dumps writes NUL as the escape \u0000 and a lone surrogate as \ud800, as a site would.
    return (
        f'<html><head><script type="application/ld+json">{json.dumps(data)}</script></head>'
        f"<body>{link}</body></html>"
    )


def _review(n: int, body: str, author: str = "患者") -> dict[str, object]:
    return {
        "@type": "Review",
        "@id": f"#rv-{n}",
        "author": author,
        "reviewRating": {"ratingValue": 2},
        "datePublished": f"2025-02-{n:02d}",
        "reviewBody": body,
    }


def _stored(session: Session) -> dict[str, Review]:
    session.rollback()
    return {r.external_id: r for r in session.scalars(select(Review))}


def test_nul_and_lone_surrogates_in_json_ld_are_stored_without_them(
    session: Session, env: Path, site: FixtureSite
) -> None:
    url = site.add(
        "/clinic/1",
        _page(
            [
                _review(3, "受付の対応が\u0000最悪でした。"),
                _review(2, "説明は丁寧。", author="山田\ud800"),
            ],
            "/clinic/1?p=2",
        ),
    )
    site.add("/clinic/1?p=2", _page([_review(1, "普通です。")]))
    (listing_id,) = register(session, "NUL医院", url)

    summary = run_crawl(listing_ids=None)

    assert summary.ok, [o.error for o in summary.listings]
    stored = _stored(session)
    # Every page is stored, the one with the NUL and the rest of the listing after it.
    assert sorted(stored) == ["#rv-1", "#rv-2", "#rv-3"]
    assert stored["#rv-3"].text == "受付の対応が最悪でした。"
    assert stored["#rv-2"].author == "山田\ufffd"
    assert listing(session, listing_id).last_crawl_status == "ok"


@contextmanager
def _refusing_reviews_containing(word: str) -> Iterator[None]:
    """A database that refuses some rows (as a full disk or a broken constraint would)."""
    engine = get_engine()
    if engine.dialect.name == "postgresql":
        create = [
            f"""CREATE FUNCTION refuse_review() RETURNS trigger AS $$ BEGIN
                IF NEW.text LIKE '%{word}%' THEN RAISE EXCEPTION 'refused by the test'; END IF;
                RETURN NEW; END $$ LANGUAGE plpgsql""",
            "CREATE TRIGGER refuse_review BEFORE INSERT ON review "
            "FOR EACH ROW EXECUTE FUNCTION refuse_review()",
        ]
        drop = ["DROP TRIGGER refuse_review ON review", "DROP FUNCTION refuse_review()"]
    else:
        create = [
            f"""CREATE TRIGGER refuse_review BEFORE INSERT ON review
                WHEN NEW.text LIKE '%{word}%'
                BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"""
        ]
        drop = ["DROP TRIGGER refuse_review"]
    with engine.begin() as conn:
        for statement in create:
            conn.execute(text(statement))
    try:
        yield
    finally:
        with engine.begin() as conn:
            for statement in drop:
                conn.execute(text(statement))


def test_a_page_that_cannot_be_stored_fails_its_listing(
    session: Session, env: Path, site: FixtureSite
) -> None:
    broken = site.add(
        "/clinic/2",
        _page([_review(5, "保存できない口コミ"), _review(4, "普通")], "/clinic/2?p=2"),
    )
    site.add("/clinic/2?p=2", _page([_review(3, "二頁目")]))
    fine = site.add("/clinic/3", _page([_review(2, "良い病院です。")]))
    broken_id, fine_id = register(session, "保存失敗医院", broken, fine)

    with _refusing_reviews_containing("保存できない"):
        summary = run_crawl(listing_ids=None)

    outcomes = {o.listing_id: o for o in summary.listings}
    assert summary.status == "partial"
    assert outcomes[broken_id].status == "failed"
    assert "page 1" in (outcomes[broken_id].error or "")
    assert "could not be stored" in (outcomes[broken_id].error or "")
    assert outcomes[fine_id].status == "ok"
    assert listing(session, broken_id).last_crawl_status == "failed"
    # Nothing of the refused page was half-written; the rest was stored.
    assert sorted(_stored(session)) == ["#rv-2", "#rv-3"]
    # Not taken as read: the next crawl reads the listing again and stores the page.
    assert listing(session, broken_id).crawl_watermark is None
    again = run_crawl(listing_ids=[broken_id])
    assert again.ok and sorted(_stored(session)) == ["#rv-2", "#rv-3", "#rv-4", "#rv-5"]


def test_a_review_longer_than_the_limit_is_stored_cut_and_the_log_says_so(
    session: Session, env: Path, site: FixtureSite
) -> None:
    body = "説明が長い。" * 25_000  # 150,000 characters
    url = site.add("/clinic/4", _page([_review(1, body), _review(2, "普通です。")]))
    register(session, "長文医院", url)

    summary = run_crawl(listing_ids=None)

    assert summary.ok
    stored = _stored(session)
    assert stored["#rv-1"].text == body[:MAX_REVIEW_CHARS]
    assert stored["#rv-2"].text == "普通です。"
    log = crawl_log(env, summary.run_id)
    assert "has 150,000 characters; its first 100,000 are stored" in log
