"""What the Google spider reads and writes in the database besides the generic crawler.store:
its listings with their locations and connections, stored review versions, connection status.

Kept apart from crawler/store.py so that the generic store stays unaware of any one source.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from crawler.google import SOURCE
from models import CrawlRunListing, GoogleConnection, Listing, Review
from models.base import utcnow
from models.db import session_scope


@dataclass(frozen=True)
class GoogleTask:
    listing_id: int
    # The listing's Maps link (what staff open for any of its reviews).
    url: str
    location: str | None
    connection_id: int | None
    # The listing's crawl watermark (see crawler.store.ListingTask): only a page of reviews
    # stored at or below it may end the crawl early.
    watermark: int | None

    @property
    def may_stop_early(self) -> bool:
        return self.watermark is not None


def pending_google_listings(*, run_id: int) -> list[GoogleTask]:
    with session_scope() as session:
        rows = session.execute(
            select(
                Listing.id,
                Listing.url,
                Listing.google_location,
                Listing.google_connection_id,
                Listing.crawl_watermark,
            )
            .join(CrawlRunListing, CrawlRunListing.listing_id == Listing.id)
            .where(
                CrawlRunListing.run_id == run_id,
                CrawlRunListing.status == "pending",
                Listing.source == SOURCE,
            )
            .order_by(Listing.id)
        ).all()
    return [
        GoogleTask(
            listing_id=row.id,
            url=row.url,
            location=row.google_location,
            connection_id=row.google_connection_id,
            watermark=row.crawl_watermark,
        )
        for row in rows
    ]


def encrypted_refresh_token(*, connection_id: int) -> str | None:
    with session_scope() as session:
        connection = session.get(GoogleConnection, connection_id)
        return connection.refresh_token_encrypted if connection is not None else None


def known_versions(*, listing_id: int, up_to: int | None = None) -> dict[str, str]:
    """external_id → content hash of the listing's stored reviews that are not marked removed;
    with ``up_to``, only those stored at or below that watermark (review id)."""
    query = select(Review.external_id, Review.content_hash).where(
        Review.listing_id == listing_id, Review.removed_at.is_(None)
    )
    if up_to is not None:
        query = query.where(Review.id <= up_to)
    with session_scope() as session:
        return {row.external_id: row.content_hash for row in session.execute(query)}


def set_connection_status(*, connection_id: int, status: str, detail: str | None) -> None:
    """Record "ok" / "needs_reconnect"; ``status_since`` moves only when the status changes."""
    with session_scope() as session:
        connection = session.get(GoogleConnection, connection_id)
        if connection is None:
            return
        if connection.status != status:
            connection.status = status
            connection.status_since = utcnow()
        connection.status_detail = detail
