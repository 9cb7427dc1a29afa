"""Scrapy settings, built once from ``get_settings()`` (polite defaults live here).

docs/operations.md: obey robots.txt, one request at a time per site, a delay between requests,
AutoThrottle, and an honest User-Agent with a contact URL.

The crawl's components (spiders, middlewares, the resolver) read their values from
``crawler.settings``, never from ``get_settings()``: what a crawl runs with is this one dict.
Secrets (the Google OAuth client, ``SECRET_KEY``) stay out of it, because Scrapy logs every
overridden setting when a crawl starts; the Google spider reads them from ``kuchikomi_settings``.
"""

from __future__ import annotations

from typing import Any

from crawler.resolver import ALLOW_PRIVATE_HOSTS
from kuchikomi_settings import Settings

# The project's own Scrapy settings, beside ALLOW_PRIVATE_HOSTS (crawler/resolver.py).
DATA_DIR = "KUCHIKOMI_DATA_DIR"
WARC_DIR = "KUCHIKOMI_WARC_DIR"
MAX_PAGES_PER_LISTING = "KUCHIKOMI_MAX_PAGES_PER_LISTING"


def scrapy_settings(settings: Settings) -> dict[str, Any]:
    crawl = settings.crawl
    return {
        "BOT_NAME": "kuchikomi-guard",
        "USER_AGENT": crawl.user_agent,
        "ROBOTSTXT_OBEY": crawl.obey_robots_txt,
        # Many sites are crawled side by side, each one politely.
        "CONCURRENT_REQUESTS": 16,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
        "DOWNLOAD_DELAY": crawl.download_delay,
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "AUTOTHROTTLE_START_DELAY": max(crawl.download_delay, 1.0),
        "AUTOTHROTTLE_TARGET_CONCURRENCY": 1.0,
        "DOWNLOAD_TIMEOUT": crawl.timeout,
        "DNS_TIMEOUT": crawl.timeout,
        # Connections go to the address this resolver checked (no DNS rebinding past the guard).
        "TWISTED_DNS_RESOLVER": "crawler.resolver.PrivateAddressGuardResolver",
        ALLOW_PRIVATE_HOSTS: settings.allow_private_hosts,
        DATA_DIR: str(settings.data_dir),
        WARC_DIR: str(settings.warc_dir),
        MAX_PAGES_PER_LISTING: crawl.max_pages_per_listing,
        "RETRY_TIMES": crawl.retry_times,
        "DOWNLOAD_MAXSIZE": crawl.max_response_bytes,
        "DOWNLOAD_WARNSIZE": crawl.max_response_bytes // 2,
        "REDIRECT_MAX_TIMES": 5,
        # Review listings need no session. Off also keeps the cookie middleware's tldextract
        # (which would download the public suffix list) from ever touching the network.
        "COOKIES_ENABLED": False,
        # No control ports: the crawl process takes no commands from the network.
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        "LOG_LEVEL": "INFO",
        "DOWNLOADER_MIDDLEWARES": {
            # First on the way out: nothing (not even robots.txt) is fetched from a refused host.
            "crawler.middlewares.PrivateHostGuardMiddleware": 50,
            # Next to the downloader on the way back: archive responses exactly as received
            # (before decompression, redirects and retries act on them).
            "crawler.middlewares.WarcArchiveMiddleware": 950,
        },
        "ITEM_PIPELINES": {
            # The only pipeline so far; validation/enrichment pipelines would come before it.
            # It stores in batches, off the event loop (docs/architecture.md#crawler-batching).
            "crawler.pipelines.StoreReviewPagePipeline": 300,
        },
    }
