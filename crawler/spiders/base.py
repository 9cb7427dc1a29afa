"""Behaviour every review-listing spider shares: one crawl run's listings, pagination, early stop
when a page holds only known reviews, page limits, and a readable outcome for every listing.

A site adapter subclasses :class:`ListingSpider` and names its :class:`~crawler.sites.SiteProfile`;
selectors live in the profile, not here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, ClassVar
from urllib.parse import urlsplit

import scrapy
import scrapy.exceptions
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import (
    ConnectionRefusedError,
    DNSLookupError,
    TCPTimedOutError,
    TimeoutError,
)
from twisted.python.failure import Failure

from crawler import store
from crawler.extract import extract_page
from crawler.items import ReviewPageItem
from crawler.middlewares import EVIDENCE_ID, LISTING_ID, RefusedHost
from crawler.resolver import refused_address
from crawler.sites import SiteProfile
from kuchikomi.settings import get_settings

PAGE_NUMBER = "kuchikomi_page_number"


def _scrapy_errors(*names: str) -> tuple[type[BaseException], ...]:
    # Scrapy 2.13+ wraps download failures in its own exception types; older ones raise Twisted's.
    return tuple(
        getattr(scrapy.exceptions, name) for name in names if hasattr(scrapy.exceptions, name)
    )


_DNS_ERRORS = (DNSLookupError, *_scrapy_errors("CannotResolveHostError"))
_TIMEOUT_ERRORS = (TimeoutError, TCPTimedOutError, *_scrapy_errors("DownloadTimeoutError"))
_REFUSED_ERRORS = (ConnectionRefusedError, *_scrapy_errors("DownloadConnectionRefusedError"))


@dataclass
class ListingState:
    task: store.ListingTask
    pages: int = 0
    known: set[str] = field(default_factory=set)
    visited: set[str] = field(default_factory=set)
    status: str | None = None  # None while in progress, then "ok" | "failed"
    complete: bool = False
    error: str | None = None

    def finish(self, *, complete: bool) -> None:
        self.status, self.complete = "ok", complete

    def fail(self, error: str) -> None:
        self.status, self.complete, self.error = "failed", False, error


def describe_failure(failure: Failure, url: str, timeout: float) -> str:
    """One readable sentence for why a fetch failed (shown to clinic staff and operators)."""
    exc = failure.value
    host = urlsplit(url).hostname or url
    if isinstance(exc, HttpError):
        status = exc.response.status
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        return f"HTTP {status} {phrase}".rstrip() + f" from {url}"
    if isinstance(exc, RefusedHost):
        return str(exc)
    if isinstance(exc, _DNS_ERRORS) and (address := refused_address(host)) is not None:
        return f"refusing to fetch {url}: {host} resolves to private {address}"
    if isinstance(exc, _DNS_ERRORS):
        return f"host {host!r} does not resolve (DNS lookup failed) for {url}"
    if isinstance(exc, _TIMEOUT_ERRORS):
        return f"timed out after {timeout:g} s fetching {url}"
    if isinstance(exc, _REFUSED_ERRORS):
        return f"connection refused by {host} for {url}"
    if isinstance(exc, scrapy.exceptions.IgnoreRequest) and "robots.txt" in str(exc):
        return f"robots.txt of {host} forbids crawling {url}"
    message = str(exc).strip() or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {message} ({url})"


class ListingSpider(scrapy.Spider):
    """Crawls the listings of one run that belong to this spider's site."""

    site: ClassVar[SiteProfile]

    def __init__(self, run_id: int | str, full: bool | str = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run_id = int(run_id)
        self.full = full in (True, "1", "true", "True")
        crawl = get_settings().crawl
        self.max_pages = crawl.max_pages_per_listing
        self.timeout = crawl.timeout
        self.states: dict[int, ListingState] = {}

    async def start(self) -> AsyncIterator[Any]:
        for task in store.pending_listings(run_id=self.run_id, source=self.site.name):
            state = ListingState(task)
            self.states[task.listing_id] = state
            yield self._page_request(state, task.url, 1)

    def _page_request(self, state: ListingState, url: str, number: int) -> scrapy.Request:
        state.visited.add(url)
        return scrapy.Request(
            url,
            callback=self.parse_page,
            errback=self.page_failed,
            # Pagination loops are stopped by ListingState.visited; the global dupefilter would
            # drop a request silently and leave its listing without an outcome.
            dont_filter=True,
            meta={LISTING_ID: state.task.listing_id, PAGE_NUMBER: number},
        )

    def parse_page(self, response: Response) -> Iterator[Any]:
        state = self.states[response.meta[LISTING_ID]]
        number: int = response.meta[PAGE_NUMBER]
        where = "" if number == 1 else f"page {number}: "
        if not isinstance(response, TextResponse):
            content_type = response.headers.get("Content-Type", b"").decode("latin-1")
            self._fail(
                state,
                f"{where}not an HTML page ({content_type or 'no Content-Type'}) at {response.url}",
            )
            return
        page = extract_page(
            response.text,
            page_url=response.url,
            listing_url=state.task.url,
            site=self.site,
            now=datetime.now(UTC),
        )
        if not page.has_review_markup:
            self._fail(
                state,
                f"{where}no schema.org review data at {response.url} "
                "(not a review listing, or the site changed its layout)",
            )
            return
        if number == 1:
            # Before this page's reviews are stored: "known" means known before this run.
            state.known = store.known_external_ids(listing_id=state.task.listing_id)
            if not page.reviews and state.known:
                # Crawl health (spidermon-style): a listing that showed reviews and now shows
                # none has most likely changed its layout; a person must look.
                self._fail(
                    state,
                    f"no reviews found at {response.url} although {len(state.known)} were "
                    "shown before (the site may have changed its layout)",
                )
                return
        state.pages = number
        yield ReviewPageItem(
            listing_id=state.task.listing_id,
            page_url=response.url,
            page_number=number,
            evidence_id=response.meta.get(EVIDENCE_ID),
            reviews=page.reviews,
        )
        ids = {review.external_id for review in page.reviews}
        if page.next_url is None or page.next_url in state.visited:
            state.finish(complete=True)
        elif ids and ids <= state.known and state.task.may_stop_early and not self.full:
            # Newest first: a page of known reviews means everything older is known too.
            self.logger.info(
                "listing %s: page %s already known, stopping", state.task.listing_id, number
            )
            state.finish(complete=False)
        elif number >= self.max_pages:
            self.logger.warning(
                "listing %s: stopped at the page limit (%s pages)", state.task.listing_id, number
            )
            state.finish(complete=False)
        else:
            yield self._page_request(state, page.next_url, number + 1)

    def _fail(self, state: ListingState, error: str) -> None:
        state.fail(error)
        self.logger.warning("listing %s failed: %s", state.task.listing_id, error)

    def page_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        state = self.states[request.meta[LISTING_ID]]
        number = request.meta[PAGE_NUMBER]
        error = describe_failure(failure, request.url, self.timeout)
        self._fail(state, error if number == 1 else f"page {number}: {error}")

    def closed(self, reason: str) -> None:
        # Runs after the pipelines have stored every page: outcomes (and removals) last.
        for listing_id, state in self.states.items():
            if state.status is None:
                self._fail(state, f"crawl stopped before this listing finished ({reason})")
            removed = store.finish_listing(
                run_id=self.run_id,
                listing_id=listing_id,
                status=state.status or "failed",
                complete=state.complete,
                error=state.error,
            )
            if removed:
                self.logger.info("listing %s: %s reviews no longer shown", listing_id, removed)
