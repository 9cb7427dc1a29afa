"""The crawl's writes, batched: evidence records and review pages stored together off the reactor.

Every response's WARC record is written in the event loop (a buffered append, no fsync), and what
must go to the database (its EvidenceRecord, the reviews read from it) waits here. A batch is
written every :data:`FLUSH_ITEMS` pages or :data:`FLUSH_SECONDS`, whichever comes first, and when
the spider closes: in a worker thread (Twisted's ``deferToThread``), first one fsync of each WARC
file the batch points into, then one database transaction. Only when that transaction has
committed does a page count as stored: its item leaves the pipeline, and the spider may record
its listing's outcome (and watermark) once every batch is written, as Scrapy closes the pipelines
before it tells the spider it closed (docs/architecture.md#crawler-batching).

Batches are written one after another, never side by side, so a batch can refer to evidence a
previous one stored. A batch the database refuses is written again one page per transaction, so
that only the page at fault fails its listing; the others are stored as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from twisted.internet import defer, threads

from crawler import store
from crawler.items import EvidenceRef, ReviewPageItem

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from twisted.internet.base import DelayedCall, ReactorBase

    from crawler.archive import WarcArchive

logger = logging.getLogger(__name__)

# A batch is written when it holds this many pages, or this long after its first entry: large
# enough that one commit and one fsync serve many pages, small enough that a kill loses little
# work (a page not yet written is simply read again by the next crawl).
FLUSH_ITEMS = 100
FLUSH_SECONDS = 0.25

# Called in the reactor thread with each page's outcome: (reviews seen, new) or the error.
PageDone = Callable[[ReviewPageItem, "tuple[int, int] | Exception"], None]


@dataclass
class _Batch:
    evidence: list[tuple[EvidenceRef, dict[str, Any]]] = field(default_factory=list)
    pages: list[tuple[ReviewPageItem, defer.Deferred[tuple[int, int]]]] = field(
        default_factory=list
    )
    archives: list[WarcArchive] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.evidence or self.pages)


class StoreBatch:
    """One crawler's pending writes; reached through :func:`batch_for`."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self._batch = _Batch()
        self._timer: DelayedCall | None = None
        # The batch being written (its outcomes); None while no batch is being written.
        self._writing: defer.Deferred[Any] | None = None
        # Told when the batch being written is stored (flush waits on them).
        self._waiting: list[defer.Deferred[None]] = []

    def add_evidence(self, archive: WarcArchive, fields: dict[str, Any]) -> EvidenceRef:
        """Queue an EvidenceRecord for a WARC record ``archive`` holds; its id comes later."""
        ref = EvidenceRef()
        self._batch.evidence.append((ref, fields))
        if archive not in self._batch.archives:
            self._batch.archives.append(archive)
        self._schedule()
        return ref

    def add_page(self, page: ReviewPageItem) -> defer.Deferred[tuple[int, int]]:
        """Queue a page; the Deferred fires with (reviews seen, new) once the page is durable."""
        stored: defer.Deferred[tuple[int, int]] = defer.Deferred()
        self._batch.pages.append((page, stored))
        if len(self._batch.pages) >= FLUSH_ITEMS:
            self._start_write()
        else:
            self._schedule()
        return stored

    def _schedule(self) -> None:
        if self._timer is None or not self._timer.active():
            from twisted.internet import reactor

            clock = cast("ReactorBase", reactor)
            self._timer = clock.callLater(FLUSH_SECONDS, self._start_write)

    def _start_write(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self._writing is not None or not self._batch:
            # One write at a time; the one running schedules the next when it ends.
            return
        batch, self._batch = self._batch, _Batch()
        run_id: int = self.crawler.spider.run_id  # type: ignore[union-attr]
        self._writing = threads.deferToThread(_write, run_id, batch)
        self._writing.addErrback(lambda failure: [failure.value for _page in batch.pages])
        self._writing.addCallback(self._written, batch)

    def _written(self, outcomes: list[tuple[int, int] | Exception], batch: _Batch) -> None:
        self._writing = None
        for (_page, stored), outcome in zip(batch.pages, outcomes, strict=True):
            if isinstance(outcome, Exception):
                stored.errback(outcome)
            else:
                stored.callback(outcome)
        waiting, self._waiting = self._waiting, []
        for written in waiting:
            written.callback(None)
        if self._batch and self._writing is None:
            if len(self._batch.pages) >= FLUSH_ITEMS:
                self._start_write()
            else:
                self._schedule()

    @defer.inlineCallbacks
    def flush(self) -> Any:
        """Write everything queued so far and wait until it is durable (spider close)."""
        while self._writing is not None or self._batch:
            if self._writing is None:
                self._start_write()
            if self._writing is not None:
                written: defer.Deferred[None] = defer.Deferred()
                self._waiting.append(written)
                yield written


def _write(run_id: int, batch: _Batch) -> list[tuple[int, int] | Exception]:
    """In a worker thread: fsync the WARC files, then store the batch in one transaction.

    Returns each page's outcome, in order. Evidence ids are set on their refs only once their
    transaction has committed.
    """
    for archive in batch.archives:
        archive.sync()
    evidence = [fields for _ref, fields in batch.evidence]
    position = {id(ref): index for index, (ref, _fields) in enumerate(batch.evidence)}
    lost = [
        isinstance(page.evidence_id, EvidenceRef)
        and page.evidence_id.id is None
        and id(page.evidence_id) not in position
        for page, _stored in batch.pages
    ]
    if any(lost):
        # Read from a response whose evidence record an earlier batch failed to store: such a
        # page fails (a review is never stored without the archived page it was read from).
        written = _write(
            run_id,
            _Batch(
                batch.evidence,
                [entry for entry, is_lost in zip(batch.pages, lost, strict=True) if not is_lost],
                batch.archives,
            ),
        )
        kept = iter(written)
        return [
            RuntimeError("its archived response could not be stored") if is_lost else next(kept)
            for is_lost in lost
        ]
    pages = [
        (page, position.get(id(page.evidence_id)), _stored_evidence_id(page))
        for page, _stored in batch.pages
    ]
    try:
        ids, outcomes = store.save_batch(run_id=run_id, evidence=evidence, pages=pages)
    except Exception:
        logger.warning("a batch of %s pages was refused; storing page by page", len(pages))
    else:
        _set_ids(batch, ids)
        return list(outcomes)
    try:
        _set_ids(batch, store.save_evidence(evidence))
    except Exception as exc:  # noqa: BLE001 - every page of the batch fails with the reason
        return [exc for _page in pages]
    page_outcomes: list[tuple[int, int] | Exception] = []
    for page, _position, _stored_id in pages:
        try:
            page_outcomes.append(
                store.save_page(run_id=run_id, page=page, evidence_id=_stored_evidence_id(page))
            )
        except Exception as exc:  # noqa: BLE001 - the page's listing fails with the reason
            page_outcomes.append(exc)
    return page_outcomes


def _set_ids(batch: _Batch, ids: list[int]) -> None:
    for (ref, _fields), evidence_id in zip(batch.evidence, ids, strict=True):
        ref.id = evidence_id


def _stored_evidence_id(page: ReviewPageItem) -> int | None:
    """The id of the page's EvidenceRecord if it is already stored (None otherwise)."""
    evidence = page.evidence_id
    return evidence.id if isinstance(evidence, EvidenceRef) else evidence


_batches: dict[int, StoreBatch] = {}


def batch_for(crawler: Crawler) -> StoreBatch:
    """The crawler's one batch, shared by the WARC middleware and the store pipeline."""
    batch = _batches.get(id(crawler))
    if batch is None or batch.crawler is not crawler:
        batch = _batches[id(crawler)] = StoreBatch(crawler)
    return batch
