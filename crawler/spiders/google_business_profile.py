"""Google Business Profile listings: reviews through the owner's official API, one run's listings.

Same outcomes as the web spiders (a ReviewPageItem per page through the store pipeline, the WARC
archive of every response, one finish_listing per listing), with what an authorised API needs on
top: an access token per connection, one refresh-and-retry on 401, back-off on 429/5xx that
honours Retry-After within a bounded total wait, and "needs reconnect" when Google refuses the
refresh token. One listing failing never stops the others.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self

import scrapy
from scrapy.http import Response
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import task, threads
from twisted.python.failure import Failure

from crawler import google, google_store
from crawler.items import ReviewPageItem
from crawler.middlewares import EVIDENCE_ID, LISTING_ID
from crawler.spiders.base import RecordsOutcomes, crawl_limits, describe_failure
from kuchikomi_settings import get_settings
from models.crypto import SecretKeyError, decrypt_secret

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

PAGE_NUMBER = "kuchikomi_page_number"
ATTEMPT = "kuchikomi_google_attempt"
AUTH_RETRIED = "kuchikomi_google_auth_retried"
# Quota (429) and Google's transient errors; anything else is an answer, not a hiccup.
RETRYABLE = frozenset({429, 500, 502, 503, 504})
# Without a Retry-After, wait 1, 2, 4… seconds, never longer than this per retry.
MAX_BACKOFF = 30.0


@dataclass
class GoogleListingState:
    task: google_store.GoogleTask
    pages: int = 0
    known: dict[str, str] = field(default_factory=dict)
    waited: float = 0.0  # seconds spent backing off, bounded by max_retry_wait
    status: str | None = None  # None while in progress, then "ok" | "failed"
    complete: bool = False
    error: str | None = None
    failure_kind: str | None = None

    @property
    def what(self) -> str:
        return f"the reviews of {self.task.location}"


class GoogleBusinessProfileSpider(RecordsOutcomes, scrapy.Spider):
    """Reads the reviews of this run's Google Business Profile listings, newest update first."""

    name = google.SOURCE
    max_pages: int
    timeout: float
    custom_settings = {
        # An authorised API call, not a crawl of public pages: robots.txt does not govern it
        # (Google's quotas do, and 429 is handled below).
        "ROBOTSTXT_OBEY": False,
        # Scrapy would retry 429/5xx at once and without Retry-After; this spider backs off
        # itself. Network errors (timeouts, resets) are still retried by Scrapy.
        "RETRY_HTTP_CODES": [],
    }

    def __init__(self, run_id: int | str, full: bool | str = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run_id = int(run_id)
        self.full = full in (True, "1", "true", "True")
        # Read here, not from the crawl's Scrapy settings: those are logged when a crawl starts,
        # and this group holds the OAuth client secret (crawler/settings.py).
        self.google = get_settings().google
        self.states: dict[int, GoogleListingState] = {}
        # Per connection: the current access token, or why none can be had (message, kind).
        self.tokens: dict[int, str] = {}
        self.token_failures: dict[int, tuple[str, str | None]] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.max_pages, spider.timeout = crawl_limits(crawler)
        return spider

    async def start(self) -> AsyncIterator[Any]:
        for listing_task in google_store.pending_google_listings(run_id=self.run_id):
            state = GoogleListingState(listing_task)
            self.states[listing_task.listing_id] = state
            if listing_task.location is None:
                self._fail(state, "the listing has no Google location (accounts/A/locations/L)")
                continue
            token = await self._access_token(state)
            if token is not None:
                yield self._reviews_request(state, token=token, page_token=None, number=1)

    async def _access_token(
        self, state: GoogleListingState, *, stale: str | None = None
    ) -> str | None:
        """The connection's access token (refreshed once per crawl, or when ``stale`` was
        refused); None after failing the listing with the reason."""
        connection_id = state.task.connection_id
        if connection_id is None:
            self._fail(
                state,
                "the listing has no Google connection (it was deleted); register the location "
                "again with `kuchikomi clinic add --google-location … --connection ID`",
            )
            return None
        if connection_id in self.token_failures:
            message, kind = self.token_failures[connection_id]
            self._fail(state, message, kind)
            return None
        current = self.tokens.get(connection_id)
        if current is not None and current != stale:
            return current
        encrypted = google_store.encrypted_refresh_token(connection_id=connection_id)
        try:
            if encrypted is None:
                raise google.GoogleError(f"Google connection {connection_id} does not exist")
            refresh_token = decrypt_secret(encrypted)
            # google-auth's refresh is blocking HTTP: run it off the reactor thread.
            token: str = await maybe_deferred_to_future(
                threads.deferToThread(
                    google.refresh_access_token, refresh_token=refresh_token, google=self.google
                )
            )
        except google.ReconnectNeeded:
            message = google.reconnect_message(connection_id)
            google_store.set_connection_status(
                connection_id=connection_id, status="needs_reconnect", detail=message
            )
            self.token_failures[connection_id] = (message, "needs_reconnect")
            self._fail(state, message, "needs_reconnect")
            return None
        except (google.GoogleError, SecretKeyError) as exc:
            self.token_failures[connection_id] = (str(exc), None)
            self._fail(state, str(exc))
            return None
        if connection_id not in self.tokens:
            # Google accepted the refresh token: a connection marked broken works again.
            google_store.set_connection_status(
                connection_id=connection_id, status="ok", detail=None
            )
        self.tokens[connection_id] = token
        return token

    def _reviews_request(
        self, state: GoogleListingState, *, token: str, page_token: str | None, number: int
    ) -> scrapy.Request:
        assert state.task.location is not None
        return scrapy.Request(
            google.reviews_url(self.google.api_base, state.task.location, page_token),
            # The archive middleware leaves Authorization out of the WARC request record.
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            callback=self.parse_reviews,
            errback=self.request_failed,
            dont_filter=True,
            meta={
                LISTING_ID: state.task.listing_id,
                PAGE_NUMBER: number,
                # Error answers come to parse_reviews: 401, 403 and 429 each mean something.
                "handle_httpstatus_all": True,
            },
        )

    async def parse_reviews(self, response: Response) -> AsyncIterator[Any]:
        state = self.states[response.meta[LISTING_ID]]
        number: int = response.meta[PAGE_NUMBER]
        where = "" if number == 1 else f"page {number}: "
        if response.status == 401 and not response.meta.get(AUTH_RETRIED):
            # The access token expired (they live about an hour): refresh once, ask again.
            request = response.request
            assert request is not None
            used = (request.headers.get("Authorization") or b"").decode("latin-1")
            token = await self._access_token(state, stale=used.removeprefix("Bearer "))
            if token is not None:
                yield self._retry(response, token=token, meta={AUTH_RETRIED: True})
            return
        if response.status in RETRYABLE:
            request = await self._back_off(state, response, where)
            if request is not None:
                yield request
            return
        if response.status != 200:
            kind = "gone" if response.status == 404 else None
            self._fail(
                state,
                where + google.describe_http_error(response.status, response.body, what=state.what),
                kind,
            )
            return
        try:
            page = google.parse_reviews_page(response.body, listing_url=state.task.url)
        except google.GoogleError as exc:
            self._fail(state, f"{where}{exc} ({response.url})")
            return
        if page.skipped:
            self.logger.warning(
                "listing %s page %s: %s reviews without an id skipped",
                state.task.listing_id,
                number,
                page.skipped,
            )
        if number == 1:
            # Before this page is stored: "known" means stored before this run.
            # Only reviews below the crawl watermark may end the crawl early (see ListingTask).
            state.known = google_store.known_versions(
                listing_id=state.task.listing_id, up_to=state.task.watermark
            )
            if not page.reviews and (page.total_review_count or 0) > 0:
                self._fail(
                    state,
                    f"Google counts {page.total_review_count} reviews for {state.task.location} "
                    "but sent none",
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
        all_known = bool(page.reviews) and all(
            state.known.get(review.external_id) == review.content_hash for review in page.reviews
        )
        if page.next_page_token is None:
            state.status, state.complete = "ok", True
        elif all_known and state.task.may_stop_early and not self.full:
            # Newest update first: a page of unchanged reviews means every older one is unchanged.
            self.logger.info(
                "listing %s: page %s already known, stopping", state.task.listing_id, number
            )
            state.status = "ok"
        elif number >= self.max_pages:
            self.logger.warning(
                "listing %s: stopped at the page limit (%s pages)", state.task.listing_id, number
            )
            state.status = "ok"
        else:
            token = self.tokens.get(state.task.connection_id or 0)
            if token is None:  # pragma: no cover - a page was fetched with this connection
                self._fail(state, f"{where}no access token for the next page")
                return
            yield self._reviews_request(
                state, token=token, page_token=page.next_page_token, number=number + 1
            )

    async def _back_off(
        self, state: GoogleListingState, response: Response, where: str
    ) -> scrapy.Request | None:
        """The same request again after Google's Retry-After (or 1, 2, 4… s); None when the
        retries or the total wait would exceed the configured bounds (the listing is failed)."""
        attempt: int = response.meta.get(ATTEMPT, 0)
        header = response.headers.get("Retry-After")
        asked = google.retry_after(
            header.decode("latin-1") if header else None, now=datetime.now(UTC)
        )
        wait = asked if asked is not None else min(2.0**attempt, MAX_BACKOFF)
        problem = google.describe_http_error(response.status, response.body, what=state.what)
        if attempt >= self.google.max_retries:
            self._fail(state, f"{where}{problem}; gave up after {attempt + 1} attempts")
            return None
        if state.waited + wait > self.google.max_retry_wait:
            limit = (
                f"the {self.google.max_retry_wait:g} s one listing may wait in total "
                "(KUCHIKOMI_GOOGLE__MAX_RETRY_WAIT)"
            )
            if asked is not None:
                reason = f"Google asked to wait {wait:g} s (Retry-After), beyond {limit}"
            else:
                reason = f"gave up after {attempt + 1} attempts: another wait would pass {limit}"
            self._fail(state, f"{where}{problem}; {reason}")
            return None
        self.logger.info(
            "listing %s: HTTP %s, retrying in %g s", state.task.listing_id, response.status, wait
        )
        state.waited += wait
        from twisted.internet import reactor

        await maybe_deferred_to_future(task.deferLater(reactor, wait, lambda: None))
        return self._retry(response, meta={ATTEMPT: attempt + 1})

    def _retry(
        self, response: Response, *, meta: dict[str, Any], token: str | None = None
    ) -> scrapy.Request:
        request = response.request
        assert request is not None
        headers = dict(request.headers)
        if token is not None:
            headers[b"Authorization"] = f"Bearer {token}".encode("latin-1")
        # A fresh meta keeps Scrapy's per-response keys (download latency, evidence id) out.
        kept = {
            key: request.meta[key]
            for key in (LISTING_ID, PAGE_NUMBER, ATTEMPT, AUTH_RETRIED, "handle_httpstatus_all")
            if key in request.meta
        }
        return request.replace(headers=headers, meta={**kept, **meta})

    def _fail(self, state: GoogleListingState, error: str, kind: str | None = None) -> None:
        state.status, state.complete, state.error, state.failure_kind = "failed", False, error, kind
        self.logger.warning("listing %s failed: %s", state.task.listing_id, error)

    def request_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        state = self.states[request.meta[LISTING_ID]]
        number = request.meta[PAGE_NUMBER]
        error = describe_failure(failure, request.url, self.timeout)
        self._fail(state, error if number == 1 else f"page {number}: {error}")
