"""One crawl pipeline run: crawl → classify new reviews → detect bursts (docs/architecture.md).

``kuchikomi crawl`` and the nightly scheduler job both call :func:`run_pipeline`, so the two
can never drift apart, and the database lock keeps them from overlapping.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kuchikomi.services.crawl import CrawlSummary, run_crawl, stop_requested
from kuchikomi.services.crawl_budget import SiteLoad, listings_for_tonight, site_loads
from kuchikomi.services.locks import job_lock
from kuchikomi_settings import get_settings
from models.db import session_scope

log = logging.getLogger(__name__)

PIPELINE_LOCK = "crawl-pipeline"


@dataclass
class PipelineResult:
    crawl: CrawlSummary
    classified: int = 0
    bursts: list[dict[str, Any]] = field(default_factory=list)
    # Takedown cases closed ("confirmed") or reopened by this run: {kind: [review id, …]}.
    cases: dict[str, list[int]] = field(default_factory=dict)
    # One entry per notification sent or attempted after this run (see services.notifications).
    notifications: list[dict[str, Any]] = field(default_factory=list)
    # Pages per site against its nightly budget, and what the run deferred.
    sites: list[SiteLoad] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.crawl.ok


def run_pipeline(
    *,
    listing_ids: list[int] | None = None,
    trigger: str = "cli",
    full: bool = False,
    scrapyd_urls: list[str] | None = None,
    progress: Callable[[Any], None] | None = None,
) -> PipelineResult:
    """Crawl the listings (all when ``listing_ids`` is None), then classify and detect bursts.

    The crawl runs on the Scrapyd nodes ``scrapyd_urls`` (default: the setting
    ``crawl.scrapyd_urls``; an empty list crawls here), reporting to ``progress`` while it waits.
    Raises :class:`kuchikomi.services.locks.LockHeldError` when another run holds the lock, and
    :class:`kuchikomi.services.scrapyd.client.ScrapydError` when a node cannot be used.
    """
    if scrapyd_urls is None:
        scrapyd_urls = get_settings().crawl.scrapyd_nodes
    with job_lock(PIPELINE_LOCK):
        every_listing = listing_ids is None
        if every_listing:
            # Stalest first, within each site's nightly budget (services/crawl_budget.py).
            with session_scope() as session:
                listing_ids = listings_for_tonight(session=session)
        # The crawl runs in a process of its own (or on Scrapyd nodes); meanwhile this process
        # classifies the reviews it stores, batch by batch, so that after the crawl only the
        # last batch is left (docs/architecture.md#classification-during-the-crawl).
        during = ClassifyDuringCrawl()
        during.start()
        try:
            if scrapyd_urls:
                from kuchikomi.services.scrapyd.run import run_crawl_on_scrapyd

                summary = run_crawl_on_scrapyd(
                    urls=scrapyd_urls,
                    listing_ids=listing_ids,
                    trigger=trigger,
                    full=full,
                    progress=progress,
                )
            else:
                summary = run_crawl(listing_ids=listing_ids, trigger=trigger, full=full)
        finally:
            during.stop()
        from kuchikomi.services.cases import confirm_removals
        from kuchikomi.services.classification import classify_reviews

        result = PipelineResult(crawl=summary)
        if stop_requested():
            # The service is being stopped (the scheduler got SIGTERM): the next run classifies
            # what this one stored, as it classifies every review not yet classified.
            return result
        with session_scope() as session:
            result.sites = site_loads(
                session=session, run_id=summary.run_id, every_listing=every_listing
            )
        # Classify everything not yet classified (not only this run's reviews): what the crawl
        # stored after the last pass during it, and what a previous run that crashed between
        # crawling and classifying left.
        with session_scope() as session:
            result.classified = during.classified + classify_reviews(
                session=session,
                only_unclassified=True,
                workers=_classify_workers(len(summary.new_review_ids) - during.classified),
            )
        result.bursts = _detect_bursts(summary)
        # A review a complete crawl no longer shows closes its takedown case as removed.
        with session_scope() as session:
            result.cases = confirm_removals(session=session)
        result.notifications = _notify()
        return result


class ClassifyDuringCrawl:
    """A thread that classifies stored reviews not yet classified while the crawl runs.

    It loads the active model (and the burst detector's libraries), then classifies whatever
    is unclassified, one committed batch at a time (a long transaction would hold SQLite's write
    lock against the crawler's batches), until :meth:`stop`; then the pipeline's classify step
    does the rest. Reviews are found the way that step finds them (no
    classification row), so a crash at any point leaves each stored review classified or found
    by the next run, and each gets the classification the step after the crawl would give it
    (the model classifies each text on its own). Only a head start: a failure here (no model
    yet: the classify step trains one) is logged and changes nothing.
    """

    # Seconds between looks for new reviews when the last look found none.
    POLL_SECONDS = 0.25

    def __init__(self, *, min_batch: int | None = None) -> None:
        # Only whole batches (default: the classify step's batch size): a small one costs nearly
        # as much per call, and what is left at the end (less than a batch) is the classify
        # step's.
        self.min_batch = min_batch
        self.classified = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="pipeline-classify-during-crawl", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop once the batch in hand is stored."""
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        from classifier import ModelNotFoundError

        try:
            from kuchikomi.services import bursts  # noqa: F401 - imported for its start-up cost
            from kuchikomi.services.classification import (
                BATCH_SIZE,
                classify_reviews,
                load_active_model,
                unclassified_review_ids,
            )

            model = load_active_model()
            min_batch = BATCH_SIZE if self.min_batch is None else self.min_batch
            while not self._stopping.is_set():
                with session_scope() as session:
                    batch = unclassified_review_ids(session)
                    done = (
                        classify_reviews(
                            session=session, review_ids=batch, model=model, progress=False
                        )
                        if len(batch) >= min_batch
                        else 0
                    )
                self.classified += done
                if not done:
                    self._stopping.wait(self.POLL_SECONDS)
        except ModelNotFoundError:
            log.debug("no model yet: the classify step after the crawl trains one")
        except Exception:  # noqa: BLE001 - see the class's docstring
            log.warning(
                "classifying during the crawl stopped; the classify step after it catches up",
                exc_info=True,
            )


# New reviews from which classifying them is spread over the cores: a worker process costs a few
# seconds to start and load the model, which a small batch of reviews does not pay back.
PARALLEL_CLASSIFY_FROM = 5_000


def _classify_workers(new_reviews: int) -> int:
    """Processes that classify a crawl's new reviews (``classifier.workers``, else one per core,
    when many reviews are new; one otherwise)."""
    from kuchikomi.services.classification import default_workers

    return default_workers() if new_reviews >= PARALLEL_CLASSIFY_FROM else 1


def _notify() -> list[dict[str, Any]]:
    """Tell subscribers about new flagged reviews and bursts; never fails the crawl."""
    from kuchikomi.services.notifications import notify_subscribers

    try:
        return [outcome.as_dict() for outcome in notify_subscribers(trigger="pipeline")]
    except Exception:
        log.exception("sending notifications failed; the crawl itself is complete")
        return []


def _detect_bursts(summary: CrawlSummary) -> list[dict[str, Any]]:
    from kuchikomi.services.bursts import detect_bursts

    clinic_ids = sorted({outcome.clinic_id for outcome in summary.listings})
    with session_scope() as session:
        bursts = detect_bursts(session=session, clinic_ids=clinic_ids)
        return [_burst_brief(b) for b in bursts]


def _burst_brief(burst: Any) -> dict[str, Any]:
    return {
        "id": burst.id,
        "clinic_id": burst.clinic_id,
        "kind": burst.kind,
        "start": burst.start.isoformat(),
        "end": burst.end.isoformat(),
        "observed": burst.observed,
        "expected": burst.expected,
        "score": burst.score,
    }
