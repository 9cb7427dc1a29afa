"""Google listings crawled by the real crawl process (Scrapy) against the fake Google on
127.0.0.1: paging, incremental re-crawls, edits, removals, token refresh, refusals, back-off."""

from __future__ import annotations

import gzip
import io
import json
import time
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from warcio.archiveiterator import ArchiveIterator

from kuchikomi.demo.google_fake import FakeLocation, FakeReview, GoogleFake
from kuchikomi.services.crawl import CrawlSummary, run_crawl
from kuchikomi.services.evidence import MANIFEST_NAME, WARC_NAME, build_bundle, verify_bundle
from models import CrawlRunListing, GoogleConnection, Review
from models.tables import ReviewRevision
from tests.google.conftest import T0, add_google_listing, connect, kuchikomi, reviews

# Every test here crawls the fake through the crawl process: slow by the suite's own rule
# (tests/conftest.py), so out of the quick loop.
pytestmark = pytest.mark.slow


def _reviews(session: Session) -> dict[str, Review]:
    session.rollback()  # the crawl process has committed since the last read
    return {r.external_id: r for r in session.scalars(select(Review))}


def _crawl(full: bool = False) -> CrawlSummary:
    return run_crawl(listing_ids=None, full=full)


def _run_listing(session: Session, run_id: int) -> CrawlRunListing:
    session.rollback()
    (row,) = session.scalars(select(CrawlRunListing).where(CrawlRunListing.run_id == run_id))
    return row


def _warc_bytes(data_dir: Path) -> bytes:
    return b"".join(gzip.decompress(p.read_bytes()) for p in data_dir.rglob("*.warc.gz"))


def test_first_crawl_reads_every_page_and_maps_google_reviews(
    session: Session, env: Path, fake: GoogleFake, location: FakeLocation
) -> None:
    location.reviews = reviews(56) + [
        FakeReview("anon", "", 4, None, T0 + timedelta(days=70), anonymous=True),
        FakeReview(
            "translated",
            "Emily",
            None,
            "(Translated by Google) Kind staff.\n\n(Original)\n親切なスタッフでした。",
            T0 + timedelta(days=71, hours=3),
        ),
    ]
    connection_id, refresh_token = connect(fake)
    add_google_listing("さくら内科", location, connection_id)

    summary = _crawl()

    assert summary.status == "ok", [o.error for o in summary.listings]
    (outcome,) = summary.listings
    assert (outcome.pages, outcome.reviews_new, outcome.complete) == (2, 58, True)
    assert fake.hits[fake.reviews_path(location)] == 2
    stored = _reviews(session)
    assert len(stored) == 58
    anonymous = stored["anon"]
    # Rating-only and anonymous: stored with empty text under 「匿名」, still counted.
    assert (anonymous.author, anonymous.rating, anonymous.text) == ("匿名", 4.0, "")
    translated = stored["translated"]
    assert translated.text == "親切なスタッフでした。"
    assert translated.rating is None  # STAR_RATING_UNSPECIFIED
    assert translated.posted_at_exact
    assert translated.posted_at is not None
    assert translated.posted_at.replace(tzinfo=None) == (T0 + timedelta(days=71, hours=3)).replace(
        tzinfo=None
    )
    plain = stored["g-3"]
    assert (plain.author, plain.rating) == ("患者3", 4.0)
    # Staff open the listing on Google Maps: Google gives reviews no address of their own.
    assert plain.url == location.maps_uri

    # Evidence: each API response is archived under its URL, with no credential in it.
    warc = _warc_bytes(env)
    responses = []
    for path in env.rglob("*.warc.gz"):
        with path.open("rb") as stream:
            for record in ArchiveIterator(stream):
                if record.rec_type == "request":
                    assert record.http_headers.get_header("Authorization") is None
                if record.rec_type == "response":
                    responses.append(record.rec_headers.get_header("WARC-Target-URI"))
    assert len(responses) == 2
    assert all("/v4/accounts/111/locations/222/reviews?" in url for url in responses)
    assert "親切なスタッフでした".encode() in warc
    access_tokens = [a.removeprefix("Bearer ") for a in fake.authorizations]
    assert access_tokens and all(token.startswith("ya29.") for token in access_tokens)
    logs = b"".join(p.read_bytes() for p in (env / "logs").glob("*.log"))
    # The evidence bundle staff hand over quotes the API response, and verifies.
    bundle = build_bundle(session=session, review_id=translated.id)
    assert all(check.ok for check in verify_bundle(io.BytesIO(bundle.content)))
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as zf:
        bundled_warc = gzip.decompress(zf.read(WARC_NAME))
        manifest = zf.read(MANIFEST_NAME)
    assert "親切なスタッフでした".encode() in bundled_warc
    for secret in {*access_tokens, refresh_token, fake.client_secret}:
        for data in (warc, logs, bundled_warc, manifest):
            assert secret.encode() not in data


def test_recrawls_ask_once_when_nothing_changed_and_follow_edits_and_removals(
    session: Session, env: Path, fake: GoogleFake, location: FakeLocation
) -> None:
    location.reviews = reviews(120)  # three pages of 50
    connection_id, _ = connect(fake)
    add_google_listing("さくら内科", location, connection_id)
    path = fake.reviews_path(location)
    assert _crawl().status == "ok"
    assert fake.hits[path] == 3

    # Unchanged: the first page (newest updates) is all known, so one request is enough.
    summary = _crawl()
    assert summary.status == "ok"
    assert fake.hits[path] == 4
    assert summary.listings[0].reviews_new == 0

    # An old review edited by its author moves to the top (updateTime desc) and is re-read.
    old = location.review("g-5")
    old.edit("院長の対応が最悪。二度と行きません。", at=T0 + timedelta(days=400), rating=1)
    location.reviews += reviews(1, start=121)
    summary = _crawl()
    assert summary.status == "ok"
    assert summary.listings[0].reviews_new == 1
    assert fake.hits[path] == 6  # page 1 has the edit and the new review, page 2 is known
    stored = _reviews(session)
    edited = stored["g-5"]
    assert (edited.text, edited.rating) == ("院長の対応が最悪。二度と行きません。", 1.0)
    (revision,) = session.scalars(
        select(ReviewRevision).where(ReviewRevision.review_id == edited.id)
    )
    assert revision.text == "5回目の受診でした。丁寧に診ていただきました。"
    assert edited.classification is None  # judged again by the classify step after the crawl

    # Removed on Google: only a crawl that reads every page may say so.
    location.remove("g-7")
    _crawl()
    assert _reviews(session)["g-7"].removed_at is None
    summary = _crawl(full=True)
    assert summary.listings[0].reviews_removed == 1
    stored = _reviews(session)
    assert stored["g-7"].removed_at is not None
    assert sum(r.removed_at is not None for r in stored.values()) == 1


def test_an_expired_access_token_is_refreshed_once_and_the_request_retried(
    session: Session, env: Path, fake: GoogleFake, location: FakeLocation
) -> None:
    location.reviews = reviews(3)
    connection_id, _ = connect(fake)
    add_google_listing("さくら内科", location, connection_id)
    token_requests = fake.hits["/token"]
    # The first reviews request meets an expired token (Google's 401 UNAUTHENTICATED).
    fake.fail_next(
        fake.reviews_path(location),
        401,
        body={"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "expired"}},
    )

    summary = _crawl()

    assert summary.status == "ok", summary.listings[0].error
    assert summary.listings[0].reviews_new == 3
    assert fake.hits["/token"] - token_requests == 2  # the crawl's first token, then one refresh
    first, retried = fake.authorizations[-2:]
    assert first != retried


def test_a_refused_refresh_token_marks_the_connection_and_spares_other_listings(
    session: Session, env: Path, fake: GoogleFake, location: FakeLocation
) -> None:
    location.reviews = reviews(2)
    other = fake.add_location("333", "444", "みどり歯科", {})
    other.reviews = reviews(4)
    revoked_id, revoked_token = connect(fake)
    healthy_id, _ = connect(fake)
    add_google_listing("さくら内科", location, revoked_id)
    add_google_listing("みどり歯科", other, healthy_id)
    fake.revoke(revoked_token)  # the clinic removed our access in its Google account

    summary = _crawl()

    assert summary.status == "partial"
    failed, ok = summary.listings
    assert (failed.status, ok.status, ok.reviews_new) == ("failed", "ok", 4)
    assert failed.error is not None
    assert f"kuchikomi google connect --connection {revoked_id}" in failed.error
    assert "再接続" in failed.error
    session.rollback()
    row = session.scalars(
        select(CrawlRunListing).where(
            CrawlRunListing.run_id == summary.run_id,
            CrawlRunListing.listing_id == failed.listing_id,
        )
    ).one()
    assert row.failure_kind == "needs_reconnect"
    connection = session.get(GoogleConnection, revoked_id)
    assert connection is not None and connection.status == "needs_reconnect"
    assert session.get(GoogleConnection, healthy_id).status == "ok"  # type: ignore[union-attr]

    # Reconnecting the same connection (its listings keep it) brings the listing back.
    code, out, err = kuchikomi(
        "google",
        "connect",
        "--connection",
        str(revoked_id),
        "--refresh-token-stdin",
        input=fake.issue_refresh_token(),
    )
    assert code == 0, err
    assert out.strip().splitlines()[-1] == str(revoked_id)
    summary = _crawl()
    assert summary.status == "ok", [o.error for o in summary.listings]
    assert summary.listings[0].reviews_new == 2


def test_a_project_without_api_access_is_told_how_to_request_it(
    # model_env: the pipeline's classify step uses the session's model instead of training one.
    session: Session,
    model_env: Path,
    fake: GoogleFake,
    location: FakeLocation,
) -> None:
    location.reviews = reviews(2)
    connection_id, _ = connect(fake)
    add_google_listing("さくら内科", location, connection_id)
    fake.denied = True

    code, out, err = kuchikomi("crawl", "--all", "--format", "json")

    assert code == 1
    (listing,) = json.loads(out)["listings"]
    assert listing["status"] == "failed"
    assert "403 PERMISSION_DENIED" in listing["error"]
    assert "Business Profile API access" in listing["error"]
    assert "developers.google.com/my-business/content/prereqs" in listing["error"]


def test_quota_and_server_errors_are_retried_after_the_time_google_asks(
    session: Session, env: Path, fake: GoogleFake, location: FakeLocation
) -> None:
    location.reviews = reviews(2)
    connection_id, _ = connect(fake)
    add_google_listing("さくら内科", location, connection_id)
    path = fake.reviews_path(location)
    fake.fail_next(path, 429, headers={"Retry-After": "1"})
    fake.fail_next(path, 503)

    started = time.monotonic()
    summary = _crawl()

    assert summary.status == "ok", summary.listings[0].error
    assert summary.listings[0].reviews_new == 2
    assert fake.hits[path] == 3
    assert time.monotonic() - started >= 2.0  # 1 s asked by Retry-After, then 1 s back-off


def test_a_retry_after_beyond_the_limit_fails_the_listing_without_waiting(
    session: Session, env: Path, fake: GoogleFake, location: FakeLocation
) -> None:
    location.reviews = reviews(2)
    connection_id, _ = connect(fake)
    add_google_listing("さくら内科", location, connection_id)
    other = fake.add_location("111", "555", "さくら内科 分院", {})
    other.reviews = reviews(1)
    add_google_listing("さくら内科 分院", other, connection_id)
    fake.fail_next(fake.reviews_path(location), 429, headers={"Retry-After": "3600"})
    fake.fail_next(fake.reviews_path(other), 500, times=10)

    started = time.monotonic()
    summary = _crawl()

    assert time.monotonic() - started < 60
    assert summary.status == "failed"
    quota, broken = summary.listings
    assert quota.error is not None and "429" in quota.error
    assert "KUCHIKOMI_GOOGLE__MAX_RETRY_WAIT" in quota.error
    assert broken.error is not None and "HTTP 500" in broken.error
    assert "gave up after" in broken.error
