"""One crawl run over registered listings, shared by the CLI, the scheduler and the API.

The run is recorded first (a CrawlRun and one pending CrawlRunListing per listing), then one
Scrapy process crawls it (``python -m crawler.run``; Twisted's reactor cannot be restarted in this
process), then the run is finalised from what that process stored. A crawler that dies leaves
its unfinished listings failed with the reason, never pending.

Recovery (docs/operations.md#crawl-run-recovery): the crawler dies with this process; a stop
request (SIGTERM, Ctrl-C) stops it gracefully and records the run as ``interrupted``; a run
left ``running`` by a process killed outright is recorded as ``interrupted`` when the next run
starts. Listings the run did not finish are never left ``ok``, and keep their crawl watermark,
so the next crawl reads past what the interrupted one stored.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crawler.store import INTERRUPTED
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


# How long a stopped crawler may take to store what it fetched before it is killed.
STOP_GRACE_SECONDS = 30.0
# Exit codes of a crawler stopped by SIGTERM or SIGINT (crawler.run: 128 + signal).
_STOPPED_CODES = {128 + signal.SIGTERM, 128 + signal.SIGINT}


class StopRequested(BaseException):
    """A stop request (SIGTERM) reached the process; see :func:`sigterm_raises`.

    A BaseException like KeyboardInterrupt, so that no ``except Exception`` swallows it.
    """

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


# Crawler processes this process is waiting for, so that a stop request arriving in another
# thread (the scheduler's main thread; its jobs run in worker threads) can reach them.
_crawlers: set[subprocess.Popen[bytes]] = set()
_crawlers_lock = threading.Lock()
_stopping = threading.Event()


def stop_running_crawls() -> int:
    """Ask every crawl this process is waiting for to stop, as SIGTERM does for ``kuchikomi
    crawl``: each crawler stores what it fetched and its run is recorded ``interrupted``. Crawls
    started afterwards in this process are stopped as soon as they start. Returns how many were
    running."""
    with _crawlers_lock:
        _stopping.set()
        running = [process for process in _crawlers if process.poll() is None]
        for process in running:
            process.terminate()
    return len(running)


def stop_requested() -> bool:
    """Whether :func:`stop_running_crawls` was called: the process is shutting down."""
    return _stopping.is_set()


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`StopRequested` in the main thread (once: a
    second SIGTERM while the crawl is being stopped is ignored, so that the stop itself is not
    cut short). Call from the main thread."""
    received: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        if received:
            return
        received.append(signum)
        raise StopRequested(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass
class CrawlSummary:
    run_id: int
    started_at: datetime
    finished_at: datetime
    status: str  # "ok" | "partial" | "failed" | "interrupted"
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
    Raises ValueError for unknown listing ids or when there is nothing to crawl. The caller
    holds the crawl pipeline's lock: a run still ``running`` is one whose process was killed.

    Interrupted (Ctrl-C, :class:`StopRequested`): the crawler is stopped gracefully, the run
    recorded as ``interrupted``, and the exception raised again.
    """
    run_id = start_run(listing_ids=listing_ids, trigger=trigger)
    log_path = get_settings().data_dir / "logs" / f"crawl-run-{run_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "crawler.run", str(run_id), "--parent-pid", str(os.getpid())]
    if full:
        command.append("--full")
    returncode: int | None = None
    interrupted = False
    try:
        with open(log_path, "ab") as log:
            # Same environment, hence the same settings and database, as this process.
            with _crawlers_lock:
                process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
                _crawlers.add(process)
                if _stopping.is_set():  # the stop request came while this run was starting
                    process.terminate()
            try:
                returncode = process.wait()
            except BaseException:
                interrupted = True
                returncode = _stop(process)
                raise
            finally:
                with _crawlers_lock:
                    _crawlers.discard(process)
    finally:
        # Also on Ctrl-C: the run is finalised, unfinished listings are failed with the reason.
        summary = finish_run(
            run_id,
            returncode=returncode,
            log_path=log_path,
            interrupted=interrupted or returncode in _STOPPED_CODES,
        )
    return summary


def _stop(process: subprocess.Popen[bytes]) -> int:
    """Ask the crawler to stop (it stores what it fetched and records its listings), then wait;
    kill it if it takes longer than :data:`STOP_GRACE_SECONDS`. Returns its exit code."""
    process.terminate()
    deadline = STOP_GRACE_SECONDS
    while True:
        try:
            return process.wait(timeout=deadline)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()
        except BaseException:
            # Another Ctrl-C while waiting: keep waiting (the crawler ignores repeated signals
            # and is killed at the deadline), so that the run is still finalised.
            deadline = 1.0


def start_run(*, listing_ids: list[int] | None, trigger: str) -> int:
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
        _record_killed_runs(session, current_run_id=run.id)
        return run.id


def _record_killed_runs(session: Session, *, current_run_id: int) -> None:
    """Runs still ``running`` when a new one starts were killed (the pipeline lock keeps two
    runs from overlapping): record them as ``interrupted`` and fail their unfinished listings.

    Crawl health is left alone (being killed says nothing about the site), and so is each
    listing's crawl watermark: the next crawl reads past what the killed run stored.
    """
    killed = list(
        session.scalars(
            select(CrawlRun).where(CrawlRun.status == "running", CrawlRun.id != current_run_id)
        )
    )
    for run in killed:
        run.status = "interrupted"
        run.stats = {
            **(run.stats or {}),
            "interrupted": f"the crawl process ended without finishing the run; found when "
            f"run {current_run_id} started",
        }
        rows = session.execute(
            select(CrawlRunListing, Listing)
            .join(Listing, Listing.id == CrawlRunListing.listing_id)
            .where(CrawlRunListing.run_id == run.id, CrawlRunListing.status == "pending")
        ).tuples()
        for row, listing in rows:
            row.status = "failed"
            row.complete = False
            row.error = _INTERRUPTED_ERROR
            row.failure_kind = INTERRUPTED
            listing.last_crawl_at = run.started_at
            listing.last_crawl_status = "failed"
            listing.last_crawl_error = f"crawl run {run.id}: {_INTERRUPTED_ERROR}"


def _stopped_listing(row: CrawlRunListing) -> bool:
    """Failed by the crawler because it was stopped, not because of the site."""
    return row.status == "failed" and row.failure_kind == INTERRUPTED


_INTERRUPTED_ERROR = (
    "the crawl was interrupted before this listing finished; the next crawl reads it again"
)


def finish_run(
    run_id: int, *, returncode: int | None, log_path: Path, interrupted: bool = False
) -> CrawlSummary:
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
            if row.status == "pending" or (interrupted and _stopped_listing(row)):
                row.status = "failed"
                row.complete = False
                if interrupted or returncode is None:
                    row.error = _INTERRUPTED_ERROR
                    row.failure_kind = INTERRUPTED
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
            # audited and reaches admins through the notification digest. An interrupted crawl
            # says nothing about the site.
            if row.failure_kind != INTERRUPTED:
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
        if interrupted:
            status = "interrupted"
        elif ok_count == len(outcomes):
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
