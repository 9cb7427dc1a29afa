"""Downloader middlewares: refuse private addresses, archive every response as WARC evidence.

Both sit on every request Scrapy makes, including redirects (a redirect is a new request through
the whole chain) and robots.txt (fetched through the engine as well). Positions in settings.py.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING

from scrapy import Request, signals
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import Response

from crawler.archive import WarcArchive
from crawler.batch import batch_for
from crawler.resolver import ALLOW_PRIVATE_HOSTS
from crawler.settings import DATA_DIR, WARC_DIR
from crawler.urls import UnsafeURLError, check_literal_address

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

# Set on request.meta by the archive middleware: the EvidenceRecord of the response (an
# EvidenceRef until its batch is stored).
EVIDENCE_ID = "kuchikomi_evidence_id"
LISTING_ID = "kuchikomi_listing_id"
_SECRET_REQUEST_HEADERS = frozenset({b"authorization", b"proxy-authorization", b"cookie"})


class RefusedHost(IgnoreRequest):
    """A fetch refused because the host is (or resolves to) a loopback/private address."""


class PrivateHostGuardMiddleware:
    """Refuses fetching loopback/private addresses unless KUCHIKOMI_ALLOW_PRIVATE_HOSTS is set.

    Checked at fetch time because a public page may redirect to an internal one. This middleware
    refuses literal addresses (which never reach a resolver) without any lookup; a host name is
    refused by the crawl's resolver when its answer is private (crawler/resolver.py), so no
    request waits on a blocking ``getaddrinfo`` in the event loop.
    """

    def __init__(self, allow_private_hosts: bool) -> None:
        self.allow_private_hosts = allow_private_hosts

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PrivateHostGuardMiddleware:
        if crawler.settings.getbool(ALLOW_PRIVATE_HOSTS):
            # Nothing to refuse (the demo, tests): the middleware is off for this crawl.
            raise NotConfigured(f"{ALLOW_PRIVATE_HOSTS} is set")
        return cls(allow_private_hosts=False)

    def process_request(self, request: Request) -> None:
        if self.allow_private_hosts:
            return
        try:
            check_literal_address(request.url)
        except UnsafeURLError as exc:
            logger.warning("refused: %s", exc)
            raise RefusedHost(str(exc)) from None


class WarcArchiveMiddleware:
    """Writes every response (as received, before decompression) to the run's WARC file and
    stores an EvidenceRecord for it; the record's id travels on to the spider in request.meta.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        # Never off: a crawl without its evidence must not start (crawler/settings.py fills these).
        data_dir, warc_dir = crawler.settings.get(DATA_DIR), crawler.settings.get(WARC_DIR)
        if not data_dir or not warc_dir:
            raise ValueError(f"the crawl's Scrapy settings lack {DATA_DIR} or {WARC_DIR}")
        self.data_dir = Path(data_dir)
        self.warc_dir = Path(warc_dir)
        self.operator = crawler.settings.get("USER_AGENT")
        self.archive: WarcArchive | None = None
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WarcArchiveMiddleware:
        return cls(crawler)

    def _archive(self, run_id: int) -> WarcArchive:
        if self.archive is None:
            started = datetime.now(UTC)
            spider = self.crawler.spider
            name = spider.name if spider else "crawl"
            # A Scrapyd job crawls one site, and the jobs of one run and source start together:
            # the site in the name keeps their archives apart.
            site = getattr(spider, "only_site", None)
            if site:
                name += "-" + re.sub(r"[^A-Za-z0-9.-]", "_", site)
            path = (
                self.warc_dir
                / started.strftime("%Y/%m")
                / f"run-{run_id}-{name}-{started:%Y%m%dT%H%M%S}.warc.gz"
            )
            self.archive = WarcArchive(path, operator=self.operator)
        return self.archive

    def process_response(self, request: Request, response: Response) -> Response:
        spider = self.crawler.spider
        run_id: int = spider.run_id  # type: ignore[union-attr]
        fetched_at = datetime.now(UTC)
        headers = [
            (key.decode("latin-1"), value.decode("latin-1"))
            for key, values in response.headers.items()
            # The body is stored de-chunked; a Transfer-Encoding header would misdescribe it.
            if key.lower() != b"transfer-encoding"
            for value in values
        ]
        request_headers = [
            (key.decode("latin-1"), value.decode("latin-1"))
            for key, values in request.headers.items()
            # Credentials are not evidence: an API's bearer token would let anyone holding the
            # WARC (or an evidence bundle cut from it) act as the connected account.
            if key.lower() not in _SECRET_REQUEST_HEADERS
            for value in values
        ]
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = ""
        ip = response.ip_address
        archive = self._archive(run_id)
        record = archive.write(
            url=response.url,
            status=response.status,
            reason=reason,
            protocol=response.protocol or "HTTP/1.1",
            headers=headers,
            body=response.body,
            request_method=request.method,
            request_headers=request_headers,
            fetched_at=fetched_at,
            ip_address=str(ip) if ip is not None else None,
        )
        # Stored with the next batch of the crawl's writes, after the WARC file is synced
        # (crawler/batch.py); the reference is resolved to the record's id then.
        request.meta[EVIDENCE_ID] = batch_for(self.crawler).add_evidence(
            archive,
            {
                "run_id": run_id,
                "listing_id": request.meta.get(LISTING_ID),
                "url": response.url[:2048],
                "status_code": response.status,
                "fetched_at": fetched_at,
                "warc_path": str(record.path.relative_to(self.data_dir)),
                "warc_offset": record.offset,
                "warc_length": record.length,
                "payload_sha256": record.payload_sha256,
                "warc_record_id": record.record_id,
            },
        )
        return response

    def spider_closed(self) -> None:
        if self.archive is not None:
            self.archive.close()
