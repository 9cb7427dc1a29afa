"""One crawl run over registered listings, shared by the CLI, the scheduler and the API.

The run is recorded first (a CrawlRun and one pending CrawlRunListing per listing), then one
Scrapy process crawls it (``python -m crawler.run``; Twisted's reactor cannot be restarted in this
process), then the run is finalised from what that process stored. A crawler that dies leaves
its unfinished listings failed with the reason, never pending.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from kuchikomi.services.health import update_health
from kuchikomi_settings import get_settings
from models import CrawlRun, CrawlRunListing, EvidenceRecord, Listing, Review, ReviewSighting
from models.base import utcnow
from models.db import session_scope


@dataclass
class ListingOutcome:
    listing_id: int
    clinic_id: int
    url: str
    status: str  # "ok" | "failed"
    pages: int
    reviews_seen: int
    reviews_new: int
    reviews_removed: int
    error: str | None
    # True when the crawl reached the listing's last page (only then are removals detected).
    complete: bool = False


@dataclass
class CrawlSummary:
    run_id: int
    started_at: datetime
    finished_at: datetime
    status: str  # "ok" | "partial" | "failed"
    listings: list[ListingOutcome]
    new_review_ids: list[int] = field(default_factory=list)
    # The crawl process's log (relative paths are relative to the working directory).
    log_path: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def run_crawl(
    *, listing_ids: list[int] | None, trigger: str = "cli", full: bool = False
) -> CrawlSummary:
    """Crawl the given listings (None = every listing) in one run and return what happened.

    ``full`` reads every page instead of stopping at the first page of known reviews.
    Raises ValueError for unknown listing ids or when there is nothing to crawl.
    """
    run_id = _start_run(listing_ids=listing_ids, trigger=trigger)
    log_path = get_settings().data_dir / "logs" / f"crawl-run-{run_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "crawler.run", str(run_id)] + (["--full"] if full else [])
    returncode: int | None = None
    try:
        with open(log_path, "ab") as log:
            # Same environment, hence the same settings and database, as this process.
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
            try:
                returncode = process.wait()
            except BaseException:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                raise
    finally:
        # Also on Ctrl-C: the run is finalised, unfinished listings are failed with the reason.
        summary = _finish_run(run_id, returncode=returncode, log_path=log_path)
    return summary


def _start_run(*, listing_ids: list[int] | None, trigger: str) -> int:
    with session_scope() as session:
        query = select(Listing).order_by(Listing.id)
        if listing_ids is not None:
            wanted = sorted(set(listing_ids))
            if not wanted:
                raise ValueError("no listing ids given")
            listings = list(session.scalars(query.where(Listing.id.in_(wanted))))
            missing = sorted(set(wanted) - {listing.id for listing in listings})
            if missing:
                raise ValueError("unknown listing id(s): " + ", ".join(map(str, missing)))
        else:
            listings = list(session.scalars(query))
            if not listings:
                raise ValueError("no listings are registered; add one with `kuchikomi clinic add`")
        run = CrawlRun(started_at=utcnow(), status="running", trigger=trigger, stats={})
        run.listings = [
            CrawlRunListing(listing_id=listing.id, status="pending") for listing in listings
        ]
        session.add(run)
        session.flush()
        return run.id


def _finish_run(run_id: int, *, returncode: int | None, log_path: Path) -> CrawlSummary:
    now = utcnow()
    with session_scope() as session:
        run = session.get(CrawlRun, run_id)
        assert run is not None
        rows = list(
            session.execute(
                select(CrawlRunListing, Listing)
                .join(Listing, Listing.id == CrawlRunListing.listing_id)
                .where(CrawlRunListing.run_id == run_id)
                .order_by(CrawlRunListing.id)
            ).tuples()
        )
        for row, _listing in rows:
            if row.status == "pending":
                row.status = "failed"
                row.complete = False
                if returncode is None:
                    row.error = "crawl interrupted before this listing finished"
                elif returncode == 0:
                    row.error = f"the crawler did not report on this listing; see {log_path}"
                else:
                    row.error = (
                        f"crawler process exited with code {returncode} before this listing "
                        f"finished; see {log_path}"
                    )
        outcomes: list[ListingOutcome] = []
        for row, listing in rows:
            listing.last_crawl_at = now
            listing.last_crawl_status = row.status
            listing.last_crawl_error = row.error
            # Crawl health (status, since, consecutive failures) from this outcome; a change is
            # audited and reaches admins through the notification digest.
            update_health(session=session, listing=listing, row=row, now=now)
            outcomes.append(
                ListingOutcome(
                    listing_id=listing.id,
                    clinic_id=listing.clinic_id,
                    url=listing.url,
                    status=row.status,
                    pages=row.pages,
                    reviews_seen=row.reviews_seen,
                    reviews_new=row.reviews_new,
                    reviews_removed=row.reviews_removed,
                    error=row.error,
                    complete=row.complete,
                )
            )
        ok_count = sum(1 for o in outcomes if o.status == "ok")
        if ok_count == len(outcomes):
            status = "ok"
        elif ok_count == 0:
            status = "failed"
        else:
            status = "partial"
        new_review_ids = list(
            session.scalars(
                select(Review.id)
                .where(
                    Review.listing_id.in_([o.listing_id for o in outcomes]),
                    Review.first_seen_at >= run.started_at,
                    select(ReviewSighting.id)
                    .join(EvidenceRecord, EvidenceRecord.id == ReviewSighting.evidence_id)
                    .where(ReviewSighting.review_id == Review.id, EvidenceRecord.run_id == run_id)
                    .exists(),
                )
                .order_by(Review.id)
            )
        )
        stats: dict[str, Any] = {
            **(run.stats or {}),
            "listings": len(outcomes),
            "listings_ok": ok_count,
            "listings_failed": len(outcomes) - ok_count,
            "pages": sum(o.pages for o in outcomes),
            "reviews_seen": sum(o.reviews_seen for o in outcomes),
            "reviews_new": sum(o.reviews_new for o in outcomes),
            "reviews_removed": sum(o.reviews_removed for o in outcomes),
            "crawler_exit_code": returncode,
            "log_path": str(log_path),
        }
        run.status = status
        run.finished_at = now
        run.stats = stats
        return CrawlSummary(
            run_id=run_id,
            started_at=run.started_at,
            finished_at=now,
            status=status,
            listings=outcomes,
            new_review_ids=new_review_ids,
            log_path=log_path,
        )
