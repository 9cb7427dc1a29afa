"""Crawl health rules: a finished crawl's outcome → the listing's status, failures counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from kuchikomi.services.health import AUDIT_ACTION, list_health, update_health
from models import Clinic, CrawlRun, CrawlRunListing, Listing
from models.accounts import AuditEntry

NOW = datetime(2025, 6, 1, 3, 0, tzinfo=UTC)


def _listing(session: Session) -> Listing:
    clinic = Clinic(name="さくら内科")
    clinic.listings = [Listing(url="https://maps.example/loc/1", source="google_business_profile")]
    session.add(clinic)
    session.flush()
    return clinic.listings[0]


def _run(session: Session, listing: Listing, **fields: object) -> CrawlRunListing:
    run = CrawlRun(started_at=NOW, status="ok", trigger="test", stats={})
    session.add(run)
    session.flush()
    row = CrawlRunListing(run_id=run.id, listing_id=listing.id, **fields)
    session.add(row)
    session.flush()
    return row


def test_status_follows_the_spiders_failure_kind(session: Session) -> None:
    listing = _listing(session)
    ok = _run(session, listing, status="ok", pages=1, reviews_seen=4)
    assert update_health(session=session, listing=listing, row=ok, now=NOW) == "none"
    assert (listing.health_status, listing.last_success_at) == ("ok", NOW)

    later = NOW + timedelta(days=1)
    refused = _run(
        session,
        listing,
        status="failed",
        error="Google refused the refresh token (invalid_grant)",
        failure_kind="needs_reconnect",
    )
    assert update_health(session=session, listing=listing, row=refused, now=later) == "ok"
    assert listing.health_status == "needs_reconnect" and listing.health_since == later
    assert listing.consecutive_failures == 1 and listing.last_success_at == NOW

    # The same failure again: still since the first one, counted twice, no new audit entry.
    again = _run(session, listing, status="failed", error="x", failure_kind="needs_reconnect")
    assert (
        update_health(session=session, listing=listing, row=again, now=later + timedelta(1)) is None
    )
    assert listing.health_since == later and listing.consecutive_failures == 2

    timeout = _run(session, listing, status="failed", error="timed out", failure_kind=None)
    update_health(session=session, listing=listing, row=timeout, now=later)
    assert listing.health_status == "failing" and listing.health_detail == "timed out"

    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.action == AUDIT_ACTION).order_by(AuditEntry.id)
    ).all()
    # The first crawl going well is no news; the two changes after it are.
    assert [(e.before, e.after["status"]) for e in entries] == [  # type: ignore[index]
        ({"status": "ok"}, "needs_reconnect"),
        ({"status": "needs_reconnect"}, "failing"),
    ]
    assert all(e.actor == "crawler" for e in entries)


def test_a_crawl_that_finds_nothing_where_earlier_ones_found_reviews(session: Session) -> None:
    listing = _listing(session)
    update_health(
        session=session,
        listing=listing,
        row=_run(session, listing, status="ok", pages=1, reviews_seen=10),
        now=NOW,
    )
    empty = _run(session, listing, status="ok", pages=2, reviews_seen=0)
    update_health(session=session, listing=listing, row=empty, now=NOW)
    assert listing.health_status == "layout_changed"
    assert "earlier crawls found some" in (listing.health_detail or "")

    (row,) = list_health(session=session)
    assert row.as_dict()["status"] == "layout_changed"


def test_a_listing_that_never_had_reviews_is_healthy(session: Session) -> None:
    listing = _listing(session)
    for _ in range(2):
        row = _run(session, listing, status="ok", pages=1, reviews_seen=0)
        update_health(session=session, listing=listing, row=row, now=NOW)
    assert listing.health_status == "ok" and listing.consecutive_failures == 0
