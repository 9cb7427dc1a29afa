"""What the crawl process writes to the database: evidence records, reviews, per-listing outcomes.

Each function is one short transaction, so whatever the crawler is doing when it is killed,
what is stored is whole: a page's reviews and sightings go in together or not at all. During a
crawl, pages and evidence records arrive in batches (crawler/batch.py, :func:`save_batch`), run
in a worker thread rather than in the crawl's event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, exists, func, select, update
from sqlalchemy.orm import Session

from crawler.items import ReviewPageItem
from crawler.urls import site_of
from models import (
    Classification,
    CrawlRunListing,
    EvidenceRecord,
    Listing,
    Review,
    ReviewSighting,
)
from models.base import utcnow
from models.db import session_scope
from models.tables import ReviewRevision

# failure_kind of a listing whose crawl was stopped or killed before it finished: nothing about
# the site, so crawl health ignores it.
INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class ListingTask:
    listing_id: int
    url: str
    # The listing's crawl watermark: the highest review id stored when a crawl of it last
    # finished well (None: never). Only a page of reviews at or below it may end a crawl early;
    # reviews stored since (by a run that was killed, or that failed part-way) prove nothing
    # about the older pages that run never reached (docs/operations.md#crawl-run-recovery).
    watermark: int | None

    @property
    def may_stop_early(self) -> bool:
        return self.watermark is not None


def pending_listings(*, run_id: int, source: str, site: str | None = None) -> list[ListingTask]:
    """The run's pending listings of ``source``; with ``site``, only those on that site
    (:func:`crawler.urls.site_of`: one Scrapyd job crawls one site)."""
    with session_scope() as session:
        rows = session.execute(
            select(Listing.id, Listing.url, Listing.crawl_watermark)
            .join(CrawlRunListing, CrawlRunListing.listing_id == Listing.id)
            .where(
                CrawlRunListing.run_id == run_id,
                CrawlRunListing.status == "pending",
                Listing.source == source,
            )
            # Stalest first (never read, then oldest success), so a run cut short has read
            # the listings that waited longest (kuchikomi/services/crawl_budget.py).
            .order_by(Listing.last_success_at.is_not(None), Listing.last_success_at, Listing.id)
        ).all()
    return [
        ListingTask(row.id, row.url, row.crawl_watermark)
        for row in rows
        # The host is not a column: filtered here, among one run's listings of one source.
        if site is None or site_of(row.url) == site
    ]


def pending_sources(*, run_id: int) -> set[str]:
    with session_scope() as session:
        return set(
            session.scalars(
                select(Listing.source)
                .join(CrawlRunListing, CrawlRunListing.listing_id == Listing.id)
                .where(CrawlRunListing.run_id == run_id, CrawlRunListing.status == "pending")
                .distinct()
            )
        )


def known_external_ids(*, listing_id: int, up_to: int | None = None) -> set[str]:
    """Ids of the listing's reviews that are stored and not marked removed; with ``up_to``,
    only those stored at or below that watermark (review id)."""
    query = select(Review.external_id).where(
        Review.listing_id == listing_id, Review.removed_at.is_(None)
    )
    if up_to is not None:
        query = query.where(Review.id <= up_to)
    with session_scope() as session:
        return set(session.scalars(query))


def save_evidence(evidence: list[dict[str, Any]]) -> list[int]:
    """Store EvidenceRecords (their fields) in one transaction; returns their ids, in order."""
    with session_scope() as session:
        return _add_evidence(session, evidence)


def _add_evidence(session: Session, evidence: list[dict[str, Any]]) -> list[int]:
    records = [EvidenceRecord(**fields) for fields in evidence]
    session.add_all(records)
    session.flush()
    return [record.id for record in records]


def save_batch(
    *,
    run_id: int,
    evidence: list[dict[str, Any]],
    pages: list[tuple[ReviewPageItem, int | None, int | None]],
) -> tuple[list[int], list[tuple[int, int]]]:
    """Store a batch of the crawl's writes in one transaction (crawler/batch.py).

    ``evidence``: EvidenceRecords' fields. ``pages``: each page with the position in
    ``evidence`` of the record it was read from, or else that record's id if stored earlier.
    Returns the evidence ids and each page's (reviews seen, reviews new). All or nothing.
    """
    now = utcnow()
    with session_scope() as session:
        ids = _add_evidence(session, evidence)
        outcomes = [
            _save_page(
                session,
                run_id=run_id,
                page=page,
                evidence_id=ids[position] if position is not None else stored_id,
                now=now,
            )
            for page, position, stored_id in pages
        ]
    return ids, outcomes


def save_page(*, run_id: int, page: ReviewPageItem, evidence_id: int | None) -> tuple[int, int]:
    """One page in a transaction of its own (see :func:`_save_page`)."""
    with session_scope() as session:
        return _save_page(session, run_id=run_id, page=page, evidence_id=evidence_id, now=utcnow())


def _save_page(
    session: Session,
    *,
    run_id: int,
    page: ReviewPageItem,
    evidence_id: int | None,
    now: datetime,
) -> tuple[int, int]:
    """Upsert the page's reviews, link them to the page's evidence, count them for the run.

    New review → inserted with first_seen_at; known review → last_seen_at updated, removed_at
    cleared, and its text/author/rating replaced only if the site changed them. A known review
    the page only links to (``sighted_ids``) is sighted without being changed. Returns
    (reviews seen, reviews new).
    """
    new = 0
    ids = [r.external_id for r in page.reviews]
    existing = (
        {
            review.external_id: review
            for review in session.scalars(
                select(Review).where(
                    Review.listing_id == page.listing_id, Review.external_id.in_(ids)
                )
            )
        }
        if ids
        else {}
    )
    stored: list[Review] = []
    if page.sighted_ids:
        stored.extend(
            session.scalars(
                select(Review).where(
                    Review.listing_id == page.listing_id,
                    Review.external_id.in_(page.sighted_ids),
                )
            )
        )
        for sighted in stored:
            sighted.last_seen_at = now
            sighted.removed_at = None
    for item in page.reviews:
        review = existing.get(item.external_id)
        if review is None:
            review = Review(
                listing_id=page.listing_id,
                external_id=item.external_id,
                author=item.author,
                rating=item.rating,
                posted_at=item.posted_at,
                posted_at_raw=item.posted_at_raw,
                posted_at_exact=item.posted_at_exact,
                first_seen_at=now,
                last_seen_at=now,
                text=item.text,
                url=item.url,
                content_hash=item.content_hash,
            )
            session.add(review)
            new += 1
        else:
            _refresh(session, review, item, now)
        stored.append(review)
    session.flush()
    if evidence_id is not None:
        for review in stored:
            session.add(ReviewSighting(review_id=review.id, evidence_id=evidence_id, seen_at=now))
    session.execute(
        update(CrawlRunListing)
        .where(CrawlRunListing.run_id == run_id, CrawlRunListing.listing_id == page.listing_id)
        .values(
            pages=CrawlRunListing.pages + (1 if page.list_page else 0),
            reviews_seen=CrawlRunListing.reviews_seen + len(stored),
            reviews_new=CrawlRunListing.reviews_new + new,
        )
    )
    return len(stored), new


def _refresh(session: Session, review: Review, item: Any, now: datetime) -> None:
    review.last_seen_at = now
    review.removed_at = None
    if review.content_hash != item.content_hash:
        # Edited on the site: show what is published now; the earlier wording is kept as a
        # revision (the review page's edit history) and stays in the WARC.
        session.add(
            ReviewRevision(
                review_id=review.id,
                author=review.author,
                rating=review.rating,
                text=review.text,
                content_hash=review.content_hash,
                replaced_at=now,
            )
        )
        review.author, review.rating, review.text = item.author, item.rating, item.text
        review.content_hash = item.content_hash
        # That classification judged the earlier wording: drop it, so that the classify step
        # judges what is published now (until then the review is unclassified, never shown with
        # a verdict on text it no longer has). Deleted by statement after the new text is
        # written, not through the relationship's loaded state: the crawl pipeline classifies
        # while the crawl runs, and a classification written since this review was loaded must
        # go too (kuchikomi/services/classification.py, _upsert).
        session.flush()
        session.execute(delete(Classification).where(Classification.review_id == review.id))
        session.expire(review, ["classification"])
    if item.url and review.url != item.url:
        review.url = item.url
    # A relative date ("3日前") re-read later is a worse estimate than the first one; replace the
    # stored date only with an exact one, or when none was known.
    if item.posted_at is not None and (
        review.posted_at is None or (item.posted_at_exact and review.posted_at != item.posted_at)
    ):
        review.posted_at = item.posted_at
        review.posted_at_raw = item.posted_at_raw
        review.posted_at_exact = item.posted_at_exact


def finish_listing(
    *,
    run_id: int,
    listing_id: int,
    status: str,
    complete: bool,
    error: str | None,
    failure_kind: str | None = None,
) -> int:
    """Record the listing's outcome; on a complete crawl, mark reviews no longer shown as removed.

    ``failure_kind`` says why a failed listing failed, for crawl health ("layout_changed",
    "blocked", "gone", "needs_reconnect", or :data:`INTERRUPTED`; None for any other error).

    Only a crawl that reached the last page can prove a review is gone (the proof that
    a takedown worked, docs/domain.md). Returns how many reviews were marked removed.

    A listing that finished well gets its crawl watermark: every review stored so far was read
    by crawls that got through, so the next crawl may stop at a page of them.
    """
    now = utcnow()
    removed = 0
    with session_scope() as session:
        if status == "ok":
            newest = session.scalar(
                select(func.max(Review.id)).where(Review.listing_id == listing_id)
            )
            session.execute(
                update(Listing).where(Listing.id == listing_id).values(crawl_watermark=newest or 0)
            )
        if status == "ok" and complete:
            seen_this_run = (
                select(ReviewSighting.id)
                .join(EvidenceRecord, EvidenceRecord.id == ReviewSighting.evidence_id)
                .where(ReviewSighting.review_id == Review.id, EvidenceRecord.run_id == run_id)
            )
            result = session.execute(
                update(Review)
                .where(
                    Review.listing_id == listing_id,
                    Review.removed_at.is_(None),
                    ~exists(seen_this_run),
                )
                .values(removed_at=now)
                .execution_options(synchronize_session=False)
            )
            # An UPDATE answers a CursorResult; Session.execute is typed as a plain Result.
            removed = cast(CursorResult[Any], result).rowcount or 0
        session.execute(
            update(CrawlRunListing)
            .where(CrawlRunListing.run_id == run_id, CrawlRunListing.listing_id == listing_id)
            .values(
                status=status,
                complete=complete,
                error=error,
                failure_kind=failure_kind if status == "failed" else None,
                reviews_removed=removed,
            )
        )
    return removed
