"""Site profiles end to end: QLife-shaped sites served on 127.0.0.1, crawled by real Scrapy runs.

The shipped QLife profile is used as shipped, except that an operator copy in data_dir/sites
points its host and URLs at the fixture server (the way an operator overrides a profile).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from crawler.dates import JST
from crawler.sites import SHIPPED_DIR
from kuchikomi.cli import app
from kuchikomi.services.crawl import run_crawl
from kuchikomi.services.notifications import add_subscription, notify_subscribers
from kuchikomi.services.notifications import sending as notification_sending
from models import CrawlRunListing, Listing, Review
from tests.crawler.conftest import FixtureSite, listing, register

runner = CliRunner()
HOSPITAL = 7


def qlife_profile(data_dir: Path, site: FixtureSite, **replace: str) -> Path:
    """The shipped QLife profile, pointed at the fixture site, as an operator's override."""
    text = (SHIPPED_DIR / "qlife.toml").read_text("utf-8")
    host = site.base_url.removeprefix("http://")
    text = text.replace('hosts = ["qlife.jp"]', 'hosts = ["127.0.0.1"]')
    text = text.replace("https?://(?:www\\.)?qlife\\.jp", "https?://" + host.replace(".", "\\."))
    text = text.replace("https://www.qlife.jp", site.base_url)
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = data_dir / "sites" / "qlife.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    return path


def list_page(review_ids: list[int], *, block_class: str = "kuchikomi_list") -> str:
    blocks = "".join(
        f'<section class="{block_class}"><h3><a href="/kuchikomi_{HOSPITAL}_{i}">口コミ{i}</a>'
        f'</h3><p>抜粋</p><a href="/kuchikomi_list_{HOSPITAL}_1">一覧</a></section>'
        for i in review_ids
    )
    return f"<html><head><title>口コミ一覧</title></head><body>{blocks}</body></html>"


def review_text(review_id: int) -> str:
    return f"口コミ{review_id}番: 受付の方が親切で、先生の説明も丁寧でした。"


def detail_page(review_id: int, *, date: str = "2024年3月5日投稿", text: str | None = None) -> str:
    return (
        '<html><body><section class="kuchikomi_body"><h2>タイトル</h2>'
        f"<p>{text or review_text(review_id)}</p><p>参考になった</p>"
        f"<small>{date}</small></section></body></html>"
    )


def serve_qlife(
    site: FixtureSite, pages: list[list[int]], *, detail_ids: list[int] | None = None
) -> None:
    """List pages 1…n (page n+1 is 404, the list's end) and every review's own page."""
    for number, ids in enumerate(pages, 1):
        site.add(f"/kuchikomi_list_{HOSPITAL}_{number}", list_page(ids))
    for review_id in detail_ids or [i for ids in pages for i in ids]:
        site.add(f"/kuchikomi_{HOSPITAL}_{review_id}", detail_page(review_id))


def _reviews(session: Session, listing_id: int) -> list[Review]:
    session.rollback()
    return list(
        session.scalars(select(Review).where(Review.listing_id == listing_id).order_by(Review.id))
    )


def _run_row(session: Session, run_id: int, listing_id: int) -> CrawlRunListing:
    session.rollback()
    row = session.scalars(
        select(CrawlRunListing).where(
            CrawlRunListing.run_id == run_id, CrawlRunListing.listing_id == listing_id
        )
    ).one()
    return row


def _health(listing_id: int) -> dict[str, object]:
    result = runner.invoke(app, ["sources", "health", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {row["listing_id"]: row for row in json.loads(result.stdout)}
    return rows[listing_id]


def test_qlife_list_and_review_pages_then_incremental_crawl(
    session: Session, env: Path, site: FixtureSite
) -> None:
    qlife_profile(env, site)
    serve_qlife(site, [[105, 104, 103], [102, 101]])
    # A hospital page is registered as its review list, read by the QLife profile.
    (listing_id,) = register(session, "さくら内科", f"{site.base_url}/hospital_detail_{HOSPITAL}")
    row = listing(session, listing_id)
    assert row.source == "qlife"
    assert row.url == f"{site.base_url}/kuchikomi_list_{HOSPITAL}_1"

    summary = run_crawl(listing_ids=[listing_id])

    outcome = summary.listings[0]
    assert (outcome.status, outcome.complete, outcome.error) == ("ok", True, None)
    assert outcome.pages == 2  # list pages; review pages are not counted as pages
    assert outcome.reviews_new == 5
    stored = _reviews(session, listing_id)
    assert {r.external_id: r.text for r in stored} == {
        f"{HOSPITAL}_{i}": review_text(i) for i in (101, 102, 103, 104, 105)
    }
    for review in stored:
        assert review.posted_at == datetime(2024, 3, 5, tzinfo=JST)
        assert review.posted_at_exact and review.posted_at_raw == "2024年3月5日"
        assert review.url == f"{site.base_url}/kuchikomi_{HOSPITAL}_{review.external_id[2:]}"
        assert review.rating is None  # QLife shows no stars
    assert site.hits[f"/kuchikomi_list_{HOSPITAL}_3"] == 1  # the 404 that ended the list
    health = _health(listing_id)
    assert health["status"] == "ok" and health["source"] == "qlife"

    # A new review on top: only its page is fetched; page 2 (all known) stops the crawl.
    serve_qlife(site, [[106, 105, 104], [103, 102, 101]], detail_ids=[106])
    summary = run_crawl(listing_ids=[listing_id])

    outcome = summary.listings[0]
    assert (outcome.status, outcome.reviews_new, outcome.pages) == ("ok", 1, 2)
    assert not outcome.complete  # stopped early: nothing may be marked removed
    assert {r.external_id for r in _reviews(session, listing_id)} >= {f"{HOSPITAL}_106"}
    assert all(site.hits[f"/kuchikomi_{HOSPITAL}_{i}"] == 1 for i in range(101, 107))
    assert site.hits[f"/kuchikomi_list_{HOSPITAL}_3"] == 1
    assert all(r.removed_at is None for r in _reviews(session, listing_id))

    # A full sweep reads every page and proves removals: 101 is no longer listed.
    serve_qlife(site, [[106, 105, 104], [103, 102]])
    summary = run_crawl(listing_ids=[listing_id], full=True)
    outcome = summary.listings[0]
    assert (outcome.status, outcome.complete, outcome.reviews_removed) == ("ok", True, 1)
    removed = [r.external_id for r in _reviews(session, listing_id) if r.removed_at is not None]
    assert removed == [f"{HOSPITAL}_101"]


def test_layout_change_is_reported_not_taken_for_silence(
    session: Session, env: Path, site: FixtureSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    qlife_profile(env, site)
    serve_qlife(site, [[3, 2, 1]])
    (listing_id,) = register(session, "さくら内科", f"{site.base_url}/kuchikomi_list_{HOSPITAL}_1")
    subscription = add_subscription(
        session=session, channel="webhook", target="https://hooks.example/x", role="admin"
    )
    clinic_hook = add_subscription(
        session=session,
        channel="webhook",
        target="https://hooks.example/clinic",
        clinic_id=listing(session, listing_id).clinic_id,
    )
    session.commit()
    assert run_crawl(listing_ids=[listing_id]).status == "ok"

    # The site renames its review blocks: the list now shows none of them.
    site.add(f"/kuchikomi_list_{HOSPITAL}_1", list_page([3, 2, 1], block_class="review-card"))
    summary = run_crawl(listing_ids=[listing_id], full=True)

    outcome = summary.listings[0]
    assert outcome.status == "failed" and outcome.reviews_removed == 0
    assert "changed its layout" in (outcome.error or "")
    assert _run_row(session, summary.run_id, listing_id).failure_kind == "layout_changed"
    assert all(r.removed_at is None for r in _reviews(session, listing_id))
    health = _health(listing_id)
    assert health["status"] == "layout_changed"
    assert health["since"] is not None and "layout" in str(health["detail"])

    # Admins hear of the change through the usual digest; a clinic's subscription does not.
    sent: list[tuple[str, dict[str, object]]] = []
    monkeypatch.setattr(
        notification_sending, "_send_webhook", lambda url, body, settings: sent.append((url, body))
    )
    outcomes = notify_subscribers()
    assert [(o.subscription_id, o.health) for o in outcomes] == [(subscription.id, 1)]
    assert clinic_hook.id not in [o.subscription_id for o in outcomes]
    (url, body) = sent[0]
    (change,) = body["health"]  # type: ignore[misc]
    assert change["listing_id"] == listing_id
    assert (change["before"], change["status"]) == ("ok", "layout_changed")
    assert notify_subscribers() == []  # sent once

    # Review pages that lost their date (a required field): most blocks unreadable.
    serve_qlife(site, [[3, 2, 1]])
    for review_id in (3, 2, 1):
        site.add(f"/kuchikomi_{HOSPITAL}_{review_id}", detail_page(review_id, date="近日"))
    summary = run_crawl(listing_ids=[listing_id], full=True)
    outcome = summary.listings[0]
    assert outcome.status == "failed" and outcome.reviews_removed == 0
    assert "3 of 3 review pages could not be read" in (outcome.error or "")
    assert "missing date" in (outcome.error or "")
    assert _health(listing_id)["status"] == "layout_changed"

    # Fixed: healthy again, and that change is news too.
    serve_qlife(site, [[3, 2, 1]])
    assert run_crawl(listing_ids=[listing_id]).status == "ok"
    assert _health(listing_id)["status"] == "ok"
    assert [o.health for o in notify_subscribers()] == [1]


def test_forbidden_is_blocked_and_not_found_is_gone(
    session: Session, env: Path, site: FixtureSite
) -> None:
    blocked_url = site.add("/blocked", "Forbidden", status=403, content_type="text/plain")
    captcha_url = site.add(
        "/captcha",
        '<html><body><div class="g-recaptcha"></div>ロボットではありません</body></html>',
    )
    gone_url = f"{site.base_url}/removed"
    # A review page with a reCAPTCHA on its own contact form is not an access check.
    review = {
        "@context": "https://schema.org",
        "@type": "Review",
        "reviewBody": "丁寧でした",
        "author": {"@type": "Person", "name": "A"},
    }
    form_url = site.add(
        "/with-form",
        '<html><head><script type="application/ld+json">'
        + json.dumps(review, ensure_ascii=False)
        + '</script></head><body><form><div class="g-recaptcha"></div></form></body></html>',
    )
    ids = register(session, "さくら内科", blocked_url, captcha_url, gone_url, form_url)

    summary = run_crawl(listing_ids=ids)

    assert [o.status for o in summary.listings] == ["failed"] * 3 + ["ok"]
    result = runner.invoke(app, ["sources", "health", "--format", "json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [(r["listing_id"], r["status"]) for r in rows] == list(
        zip(ids, ["blocked", "blocked", "gone", "ok"], strict=True)
    )
    assert set(rows[0]) >= {"listing_id", "clinic_id", "source", "url", "status", "since", "detail"}
    assert "HTTP 403" in rows[0]["detail"]
    assert "HTTP 404" in rows[2]["detail"]
    assert [r["consecutive_failures"] for r in rows] == [1, 1, 1, 0]

    run_crawl(listing_ids=ids)
    session.rollback()
    assert [listing(session, i).consecutive_failures for i in ids] == [2, 2, 2, 0]


def test_japanese_encodings_are_decoded(session: Session, env: Path, site: FixtureSite) -> None:
    qlife_profile(env, site)
    text = "髙﨑先生は説明が丁寧で、待ち時間も短かったです。"
    # Page 1 in EUC-JP without any declaration; review pages in Shift_JIS (declared in the
    # header, with CP932-only characters) and in EUC-JP mislabelled as UTF-8.
    site.add(
        f"/kuchikomi_list_{HOSPITAL}_1",
        list_page([2, 1]).encode("euc_jp"),
        content_type="text/html",
    )
    site.add(
        f"/kuchikomi_{HOSPITAL}_2",
        detail_page(2, text=text).encode("cp932"),
        content_type="text/html; charset=Shift_JIS",
    )
    site.add(
        f"/kuchikomi_{HOSPITAL}_1",
        detail_page(1, text="口コミ：駐車場が広い").encode("euc_jp"),
        content_type="text/html; charset=utf-8",
    )
    (listing_id,) = register(session, "さくら内科", f"{site.base_url}/kuchikomi_list_{HOSPITAL}_1")

    summary = run_crawl(listing_ids=[listing_id])

    assert summary.status == "ok", summary.listings[0].error
    texts = {r.external_id: r.text for r in _reviews(session, listing_id)}
    assert texts == {f"{HOSPITAL}_2": text, f"{HOSPITAL}_1": "口コミ:駐車場が広い"}


def test_profile_encoding_overrides_a_wrong_declaration(
    session: Session, env: Path, site: FixtureSite
) -> None:
    # Bytes that also decode (wrongly) as the declared charset: only the profile can tell.
    qlife_profile(env, site, **{'extract = "html"': 'extract = "html"\nencoding = "cp932"'})
    serve_qlife(site, [[1]])
    site.add(
        f"/kuchikomi_{HOSPITAL}_1",
        detail_page(1, text="ｶﾀｶﾅの口コミ").encode("cp932"),
        content_type="text/html; charset=koi8-r",
    )
    (listing_id,) = register(session, "さくら内科", f"{site.base_url}/kuchikomi_list_{HOSPITAL}_1")
    assert run_crawl(listing_ids=[listing_id]).status == "ok"
    assert [r.text for r in _reviews(session, listing_id)] == ["カタカナの口コミ"]


def test_hostile_blocks_are_skipped_and_counted(
    session: Session, env: Path, site: FixtureSite
) -> None:
    qlife_profile(env, site)
    serve_qlife(site, [[3, 2, 1]])
    hostile = (
        '<section class="kuchikomi_list"><a href="javascript:alert(1)">x</a></section>'
        '<section class="kuchikomi_list"><a href="/kuchikomi_7_4"><script>alert(1)</script></a>'
        '<section class="kuchikomi_list">' + "<div>" * 3000 + "</section>"
    )
    site.add(
        f"/kuchikomi_list_{HOSPITAL}_1",
        list_page([3, 2, 1]).replace("</body>", hostile + "</body>"),
    )
    site.add(
        f"/kuchikomi_{HOSPITAL}_4",
        detail_page(4, text="<b>太字</b>&lt;script&gt;alert(1)&lt;/script&gt; 本文"),
    )
    (listing_id,) = register(session, "さくら内科", f"{site.base_url}/kuchikomi_list_{HOSPITAL}_1")

    summary = run_crawl(listing_ids=[listing_id])

    outcome = summary.listings[0]
    assert outcome.status == "ok", outcome.error
    texts = {r.external_id: r.text for r in _reviews(session, listing_id)}
    assert set(texts) == {f"{HOSPITAL}_{i}" for i in (1, 2, 3, 4)}
    assert texts[f"{HOSPITAL}_4"] == "太字<script>alert(1)</script> 本文"
    log = (env / "logs" / f"crawl-run-{summary.run_id}.log").read_text("utf-8")
    assert "skipped 2 of 6 review blocks" in log


def test_broken_operator_profile_is_a_clear_error(
    session: Session, env: Path, site: FixtureSite
) -> None:
    serve_qlife(site, [[1]])
    qlife_profile(env, site)
    (listing_id,) = register(session, "さくら内科", f"{site.base_url}/kuchikomi_list_{HOSPITAL}_1")
    path = qlife_profile(env, site, **{'block = "section.kuchikomi_list"': "blok = 'section'"})

    listed = runner.invoke(app, ["sites", "list", "--format", "json"])
    assert listed.exit_code == 1
    assert f"{path}: reviews.blok: unknown key" in " ".join(listed.stderr.split())
    assert [p["name"] for p in json.loads(listed.stdout)] == ["schema_org"]

    checked = runner.invoke(app, ["sites", "check", "qlife", str(path)])
    assert checked.exit_code == 2
    assert "reviews.blok" in checked.stderr

    added = runner.invoke(
        app, ["clinic", "add", "--name", "x", "--url", f"{site.base_url}/kuchikomi_list_8_1"]
    )
    assert added.exit_code == 2 and "reviews.blok" in added.stderr

    summary = run_crawl(listing_ids=[listing_id])
    error = summary.listings[0].error or ""
    assert summary.listings[0].status == "failed"
    assert str(path) in error and "reviews.blok" in error
    assert site.hits[f"/kuchikomi_list_{HOSPITAL}_1"] == 0
    session.rollback()
    assert session.get(Listing, listing_id) is not None
