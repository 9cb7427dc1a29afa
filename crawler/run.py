"""The crawl process: ``python -m crawler.run RUN_ID [--full]``.

Started as a subprocess by kuchikomi.services.crawl, one per crawl run, because Twisted's reactor
cannot be restarted inside a long-lived process (scheduler, API). It crawls the run's pending
listings, one spider per site adapter side by side, and records every outcome in the database;
its log goes to stderr, which the parent keeps as the run's log file.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from scrapy.crawler import Crawler, CrawlerProcess

from crawler import store
from crawler.settings import scrapy_settings
from crawler.sites import load_profiles_lenient
from crawler.spiders import spider_for_source
from kuchikomi_settings import get_settings
from models import CrawlRun
from models.db import session_scope

logger = logging.getLogger("crawler.run")

# Scrapy stats worth keeping with the run (crawl health: errors, status codes, volume).
_KEPT_STATS = (
    "downloader/request_count",
    "downloader/response_count",
    "downloader/exception_count",
    "item_scraped_count",
    "log_count/ERROR",
    "log_count/WARNING",
    "robotstxt/forbidden",
    "retry/count",
    "retry/max_reached",
    "kuchikomi/reviews_seen",
    "kuchikomi/reviews_new",
    "elapsed_time_seconds",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crawler.run", description=__doc__)
    parser.add_argument("run_id", type=int)
    parser.add_argument("--full", action="store_true", help="read every page, no early stop")
    args = parser.parse_args(argv)

    settings = get_settings()
    process = CrawlerProcess(scrapy_settings(settings))
    crawlers = []
    # One broken operator profile fails its own site's listings, not every other site's.
    profiles, profile_errors = load_profiles_lenient()
    for source in sorted(store.pending_sources(run_id=args.run_id)):
        spider_cls = spider_for_source(source, profiles)
        if source in profile_errors:
            error = f"the site profile cannot be used: {profile_errors[source]}"
        else:
            error = f"no crawler for listing source {source!r}"
        if spider_cls is None:
            for task in store.pending_listings(run_id=args.run_id, source=source):
                store.finish_listing(
                    run_id=args.run_id,
                    listing_id=task.listing_id,
                    status="failed",
                    complete=False,
                    error=error,
                )
            continue
        crawler = process.create_crawler(spider_cls)
        crawlers.append(crawler)
        process.crawl(crawler, run_id=args.run_id, full=args.full)
    if crawlers:
        process.start()
    _save_stats(args.run_id, crawlers)
    return 0


def _save_stats(run_id: int, crawlers: list[Crawler]) -> None:
    scrapy_stats: dict[str, float] = {}
    for crawler in crawlers:
        for key, value in (crawler.stats.get_stats() if crawler.stats else {}).items():
            if key in _KEPT_STATS or key.startswith("downloader/response_status_count/"):
                if isinstance(value, int | float):
                    scrapy_stats[key] = scrapy_stats.get(key, 0) + value
    with session_scope() as session:
        run = session.get(CrawlRun, run_id)
        if run is not None:
            run.stats = {**(run.stats or {}), "scrapy": scrapy_stats}
    logger.info("crawl stats: %s", json.dumps(scrapy_stats, sort_keys=True))


if __name__ == "__main__":
    sys.exit(main())
