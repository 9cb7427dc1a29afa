"""Behaviour every review-listing spider shares: one crawl run's listings, pagination, reviews on
their own pages, early stop when a page holds only known reviews, page limits, and a readable
outcome for every listing, including why it failed (crawl health).

One spider per site profile (:func:`spider_for`); selectors live in the profile, not here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar, Self
from urllib.parse import urlsplit

import scrapy
import scrapy.exceptions
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
)
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
from crawler.encoding import decoded
from crawler.extract import ExtractedPage, extract_detail_page, extract_page
from crawler.items import ReviewPageItem
from crawler.middlewares import EVIDENCE_ID, LISTING_ID, RefusedHost
from crawler.resolver import refused_address
from crawler.settings import MAX_PAGES_PER_LISTING
from crawler.sites import SiteProfile

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

PAGE_NUMBER = "kuchikomi_page_number"
REVIEW_ID = "kuchikomi_review_id"

# failure_kind values (crawl health reads them; None means any other failure).
LAYOUT_CHANGED = "layout_changed"
BLOCKED = "blocked"
GONE = "gone"

# Statuses that say "you are refused", not "this is broken".
_BLOCKED_STATUSES = {401, 403, 429}
_GONE_STATUSES = {404, 410}
# Words of access-check and CAPTCHA pages (a 200 or 503 that holds no reviews but one of these).
_BLOCK_MARKERS = (
    "captcha",
    "g-recaptcha",
    "hcaptcha",
    "cf-challenge",
    "challenge-platform",
    "are you a robot",
    "are you human",
    "access denied",
    "ロボットではありません",
    "アクセスが制限",
    "不正なアクセス",
    "アクセスが集中",
)


def looks_blocked(text: str) -> bool:
    lowered = text[:200_000].lower()
    return any(marker in lowered for marker in _BLOCK_MARKERS)


# Scrapy wraps download failures in its own exception types (since before 2.15, our floor);
# Twisted's are kept for a failure that reaches the spider unwrapped.
_DNS_ERRORS = (DNSLookupError, CannotResolveHostError)
_TIMEOUT_ERRORS = (TimeoutError, TCPTimedOutError, DownloadTimeoutError)
_REFUSED_ERRORS = (ConnectionRefusedError, DownloadConnectionRefusedError)


@dataclass
class ListingState:
    task: store.ListingTask
    pages: int = 0
    known: set[str] = field(default_factory=set)
    # Known reviews at or below the listing's crawl watermark: only a page of these may end the
    # crawl early (see store.ListingTask).
    settled: set[str] = field(default_factory=set)
    visited: set[str] = field(default_factory=set)
    # Review pages requested (reviews on their own pages), and those answered, by review id.
    requested: set[str] = field(default_factory=set)
    answered: set[str] = field(default_factory=set)
    # Review blocks read and skipped over the whole listing, per kind of page ("list" or
    # "review"): most skipped on either kind means the layout changed.
    blocks: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    status: str | None = None  # None while in progress, then "ok" | "failed"
    complete: bool = False
    error: str | None = None
    failure_kind: str | None = None

    def finish(self, *, complete: bool) -> None:
        # Review pages may still be fetched after the list ended; a failure among them wins.
        if self.status is None:
            self.status, self.complete = "ok", complete

    def fail(self, error: str, kind: str | None = None) -> None:
        if self.status == "failed":
            return  # the first reason is the one worth reading
        self.status, self.complete, self.error, self.failure_kind = "failed", False, error, kind

    def count(self, page: ExtractedPage, url: str, kind: str = "list") -> None:
        self.blocks[kind] = self.blocks.get(kind, 0) + page.blocks
        self.skipped[kind] = self.skipped.get(kind, 0) + page.skipped
        self.problems.extend(f"{url}: {problem}" for problem in page.problems[:3])


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


def failure_kind(failure: Failure, *, first_page: bool) -> str | None:
    """What a failed fetch says about the listing's health."""
    exc = failure.value
    if isinstance(exc, HttpError):
        status = exc.response.status
        if status in _BLOCKED_STATUSES:
            return BLOCKED
        if status in _GONE_STATUSES and first_page:
            return GONE
        if isinstance(exc.response, TextResponse) and looks_blocked(exc.response.text):
            return BLOCKED
    if isinstance(exc, scrapy.exceptions.IgnoreRequest) and "robots.txt" in str(exc):
        return BLOCKED
    return None


def crawl_limits(crawler: Crawler) -> tuple[int, float]:
    """Pages read per listing at most, and the download timeout, from the crawl's settings."""
    return int(crawler.settings[MAX_PAGES_PER_LISTING]), crawler.settings.getfloat(
        "DOWNLOAD_TIMEOUT"
    )


class RecordsOutcomes:
    """What every spider of a crawl run does as it closes: record each listing's outcome.

    A spider keeps one state per listing in ``states`` (with ``status``, ``complete``, ``error``
    and ``failure_kind``) and fails a listing with ``_fail``. ``closed`` runs after the pipelines
    have stored every page, so outcomes (and removals, which only a complete crawl may record)
    come last.
    """

    run_id: int
    states: dict[int, Any]
    logger: Any

    def _fail(self, state: Any, error: str, kind: str | None = None) -> None:
        raise NotImplementedError

    def _last_checks(self, state: Any) -> None:
        """A spider's checks of a finished listing before its outcome is recorded."""

    def _unfinished(self, state: Any) -> bool:
        """Whether the listing still had work to do when the spider closed (stopped early)."""
        return state.status is None

    def store_failed(self, listing_id: int, error: str) -> None:
        """A page of the listing could not be stored: the listing fails (never a silent ok)."""
        state = self.states.get(listing_id)
        if state is not None:
            self._fail(state, error)

    def closed(self, reason: str) -> None:
        for listing_id, state in self.states.items():
            if self._unfinished(state):
                # Stopped (SIGTERM, Ctrl-C) rather than ended: no fault of the site.
                kind = store.INTERRUPTED if reason != "finished" else None
                self._fail(state, f"crawl stopped before this listing finished ({reason})", kind)
            self._last_checks(state)
            removed = store.finish_listing(
                run_id=self.run_id,
                listing_id=listing_id,
                status=state.status or "failed",
                complete=state.complete,
                error=state.error,
                failure_kind=state.failure_kind,
            )
            if removed:
                self.logger.info("listing %s: %s reviews no longer shown", listing_id, removed)


class ListingSpider(RecordsOutcomes, scrapy.Spider):
    """Crawls the listings of one run that belong to this spider's site profile."""

    site: ClassVar[SiteProfile]
    # One host of the profile (crawler.urls.site_of) when a Scrapyd job crawls one site of a
    # run (crawler/scrapyd_project.py); None: every listing of the profile, as a local crawl.
    only_site: ClassVar[str | None] = None
    max_pages: int
    timeout: float

    def __init__(self, run_id: int | str, full: bool | str = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run_id = int(run_id)
        self.full = full in (True, "1", "true", "True")
        self.states: dict[int, ListingState] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.max_pages, spider.timeout = crawl_limits(crawler)
        return spider

    async def start(self) -> AsyncIterator[Any]:
        for task in store.pending_listings(
            run_id=self.run_id, source=self.site.name, site=self.only_site
        ):
            # Which process crawled which listing, in the run's log (several Scrapyd jobs).
            self.logger.info("crawling listing %s: %s", task.listing_id, task.url)
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

    def _text(self, state: ListingState, response: Response, where: str) -> TextResponse | None:
        if not isinstance(response, TextResponse):
            content_type = (response.headers.get("Content-Type") or b"").decode("latin-1")
            self._fail(
                state,
                f"{where}not an HTML page ({content_type or 'no Content-Type'}) at {response.url}",
            )
            return None
        return decoded(response, self.site)

    def parse_page(self, response: Response) -> Iterator[Any]:
        state = self.states[response.meta[LISTING_ID]]
        number: int = response.meta[PAGE_NUMBER]
        where = "" if number == 1 else f"page {number}: "
        text_response = self._text(state, response, where)
        if text_response is None:
            return
        if number == 1:
            # Before this page's reviews are stored: "known" means known before this run.
            state.known = store.known_external_ids(listing_id=state.task.listing_id)
            if state.task.watermark is not None:
                state.settled = store.known_external_ids(
                    listing_id=state.task.listing_id, up_to=state.task.watermark
                )
        try:
            page = extract_page(
                text_response.text,
                page_url=response.url,
                listing_url=state.task.url,
                site=self.site,
                now=datetime.now(UTC),
            )
        except Exception as exc:  # noqa: BLE001 - markup no parser accepts fails one listing
            self._fail(state, f"{where}{response.url} could not be parsed: {exc!r}")
            return
        found = [r.external_id for r in page.reviews] + [i for i, _ in page.detail_links]
        # Only a page without any review markup is taken for an access check: review pages
        # often carry a reCAPTCHA for their own forms.
        if not page.has_review_markup and looks_blocked(text_response.text):
            self._fail(
                state,
                f"{where}{response.url} shows an access check or CAPTCHA instead of reviews",
                BLOCKED,
            )
            return
        if not page.has_review_markup:
            if number > 1 and self.site.page_number is not None:
                # A numbered page past the last one that the site answers with an empty page.
                state.finish(complete=True)
                return
            what = "schema.org review data" if self.site.extract == "schema_org" else "review block"
            self._fail(
                state,
                f"{where}no {what} at {response.url} "
                "(not a review listing, or the site changed its layout)",
                LAYOUT_CHANGED if state.known or number > 1 else None,
            )
            return
        state.count(page, response.url)
        if number == 1 and not found and state.known:
            # A listing that showed reviews and now shows none has most likely changed its
            # layout; a person must look.
            self._fail(
                state,
                f"no reviews found at {response.url} although {len(state.known)} were "
                "shown before (the site may have changed its layout)",
                LAYOUT_CHANGED,
            )
            return
        state.pages = number
        ids = set(found)
        if self.site.on_detail_pages:
            yield from self._follow_reviews(state, page, response, number)
        else:
            yield ReviewPageItem(
                listing_id=state.task.listing_id,
                page_url=response.url,
                page_number=number,
                evidence_id=response.meta.get(EVIDENCE_ID),
                reviews=page.reviews,
            )
        if page.next_url is None or page.next_url in state.visited:
            state.finish(complete=True)
        elif ids and ids <= state.settled and state.task.may_stop_early and not self.full:
            # Newest first: a page of reviews read by crawls that got through means everything
            # older is known too.
            self.logger.info(
                "listing %s: page %s already known, stopping", state.task.listing_id, number
            )
            state.finish(complete=False)
        elif number >= self.max_pages:
            self.logger.warning(
                "listing %s: stopped at the page limit (%s pages)", state.task.listing_id, number
            )
            state.finish(complete=False)
        elif self.site.page_number is not None and not ids:
            # Numbered pages: a page of blocks none of which could be read is no sign of more.
            state.finish(complete=False)
        else:
            yield self._page_request(state, page.next_url, number + 1)

    def _follow_reviews(
        self, state: ListingState, page: ExtractedPage, response: Response, number: int
    ) -> Iterator[Any]:
        """A list of links to reviews: known ones are sighted here, new ones fetched.

        Known reviews' pages are not fetched again (politeness: one request per new review);
        a full sweep fetches them all, so edits are noticed.
        """
        sighted = [i for i, _ in page.detail_links if i in state.known and not self.full]
        yield ReviewPageItem(
            listing_id=state.task.listing_id,
            page_url=response.url,
            page_number=number,
            evidence_id=response.meta.get(EVIDENCE_ID),
            sighted_ids=sighted,
        )
        for review_id, url in page.detail_links:
            if review_id in sighted or review_id in state.requested:
                continue
            state.requested.add(review_id)
            yield scrapy.Request(
                url,
                callback=self.parse_review,
                errback=self.review_failed,
                dont_filter=True,
                meta={LISTING_ID: state.task.listing_id, PAGE_NUMBER: number, REVIEW_ID: review_id},
            )

    def parse_review(self, response: Response) -> Iterator[Any]:
        state = self.states[response.meta[LISTING_ID]]
        state.answered.add(response.meta[REVIEW_ID])
        text_response = self._text(state, response, "review page: ")
        if text_response is None:
            return
        try:
            page = extract_detail_page(
                text_response.text,
                page_url=response.url,
                review_id=response.meta[REVIEW_ID],
                site=self.site,
                now=datetime.now(UTC),
            )
        except Exception as exc:  # noqa: BLE001 - an unparsable review page is one skipped review
            state.count(ExtractedPage([], False, None, blocks=1, skipped=1), response.url, "review")
            state.problems.append(f"{response.url}: could not be parsed: {exc!r}")
            return
        state.count(page, response.url, "review")
        if page.reviews:
            yield ReviewPageItem(
                listing_id=state.task.listing_id,
                page_url=response.url,
                page_number=response.meta[PAGE_NUMBER],
                evidence_id=response.meta.get(EVIDENCE_ID),
                reviews=page.reviews,
                list_page=False,
            )
        elif not page.has_review_markup and looks_blocked(text_response.text):
            self._fail(
                state,
                f"{response.url} shows an access check or CAPTCHA instead of a review",
                BLOCKED,
            )

    def review_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        state = self.states[request.meta[LISTING_ID]]
        state.answered.add(request.meta[REVIEW_ID])
        exc = failure.value
        if isinstance(exc, HttpError) and exc.response.status in _GONE_STATUSES:
            # Taken down between reading the list and its page: nothing to store.
            self.logger.info("review page gone: %s", request.url)
            return
        error = describe_failure(failure, request.url, self.timeout)
        self._fail(state, f"review page: {error}", failure_kind(failure, first_page=False))

    def _fail(self, state: ListingState, error: str, kind: str | None = None) -> None:
        state.fail(error, kind)
        self.logger.warning("listing %s failed: %s", state.task.listing_id, error)

    def page_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        state = self.states[request.meta[LISTING_ID]]
        number = request.meta[PAGE_NUMBER]
        exc = failure.value
        if (
            number > 1
            and self.site.page_number is not None
            and isinstance(exc, HttpError)
            and exc.response.status in _GONE_STATUSES
        ):
            # Numbered pages end where the site answers "not found": the list was read whole.
            state.finish(complete=True)
            return
        error = describe_failure(failure, request.url, self.timeout)
        self._fail(
            state,
            error if number == 1 else f"page {number}: {error}",
            failure_kind(failure, first_page=number == 1),
        )

    def _check_layout(self, state: ListingState) -> None:
        # Most review blocks lacking what the profile requires: the selectors no longer fit.
        examples = "; ".join(state.problems[:3])
        for kind, skipped in state.skipped.items():
            blocks = state.blocks.get(kind, 0)
            if not skipped:
                continue
            if self.crawler.stats is not None:
                self.crawler.stats.inc_value("kuchikomi/blocks_skipped", skipped)
            what = "review blocks" if kind == "list" else "review pages"
            if state.status == "ok" and skipped * 2 > blocks:
                self._fail(
                    state,
                    f"{skipped} of {blocks} {what} could not be read "
                    f"(the site may have changed its layout): {examples}",
                    LAYOUT_CHANGED,
                )
            else:
                self.logger.warning(
                    "listing %s: skipped %s of %s %s: %s",
                    state.task.listing_id,
                    skipped,
                    blocks,
                    what,
                    examples,
                )

    def _last_checks(self, state: ListingState) -> None:
        self._check_layout(state)

    def _unfinished(self, state: ListingState) -> bool:
        # A list read to its end while review pages were still being fetched (the crawl was
        # stopped) is not finished: those reviews were never stored.
        return state.status is None or (
            state.status == "ok" and not state.requested <= state.answered
        )


def spider_for(site: SiteProfile) -> type[ListingSpider]:
    """The spider class that crawls listings of one site profile (named after it)."""
    class_name = "".join(part.title() for part in site.name.split("_")) + "Spider"
    return type(class_name, (ListingSpider,), {"name": site.name, "site": site})
