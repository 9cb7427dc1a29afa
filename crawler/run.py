"""The crawl process: ``python -m crawler.run RUN_ID [--full] [--parent-pid PID]``.

Started as a subprocess by kuchikomi.services.crawl, one per crawl run, because Twisted's reactor
cannot be restarted inside a long-lived process (scheduler, API). It crawls the run's pending
listings, one spider per site adapter side by side, and records every outcome in the database;
its log goes to stderr, which the parent keeps as the run's log file.

It never outlives the process that started it, and a SIGTERM or SIGINT stops it gracefully
(docs/operations.md#crawl-run-recovery).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import os
import signal
import sys
import threading
import time
from types import FrameType

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
    parser.add_argument(
        "--parent-pid", type=int, default=None, help="die at once when this process ends"
    )
    args = parser.parse_args(argv)
    if args.parent_pid is not None:
        die_with_parent(args.parent_pid)

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
    stopped_by: list[int] = []
    if crawlers:
        _stop_gracefully_on_signals(process, stopped_by)
        # Our handlers, not Scrapy's: Scrapy's second signal forces an unclean stop, and under
        # systemd the crawler gets SIGTERM twice (from systemd and from its parent).
        process.start(install_signal_handlers=False)
    _save_stats(args.run_id, crawlers)
    # The shell's convention (128 + signal): the parent records the run as interrupted.
    return 128 + stopped_by[0] if stopped_by else 0


def die_with_parent(parent_pid: int) -> None:
    """Be killed as soon as ``parent_pid`` (the process that started the crawl) ends.

    A crawler orphaned by a killed ``kuchikomi crawl`` would otherwise go on writing while the
    next run, seeing the lock's owner dead, starts beside it. Pages are stored in whole
    transactions (batches of them, docs/architecture.md#crawler-batching), so a crawler killed
    mid-batch leaves nothing half-written; the next crawl reads those pages again. Linux: the
    kernel's parent-death signal; elsewhere: a watchdog thread.
    """
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    else:  # pragma: no cover - not Linux
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    if os.getppid() != parent_pid:
        # The parent ended before the signal was armed.
        os.kill(os.getpid(), signal.SIGKILL)


def _watch_parent(parent_pid: int) -> None:  # pragma: no cover - not Linux
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGKILL)


def _stop_gracefully_on_signals(process: CrawlerProcess, stopped_by: list[int]) -> None:
    """SIGTERM/SIGINT: fetch nothing more, store what was fetched, record every listing's
    outcome (those not finished fail), then exit. Later signals are ignored: the parent kills
    a crawler that takes too long. The first signal is appended to ``stopped_by``."""
    from twisted.internet import reactor

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stopped_by:
            return
        stopped_by.append(signum)
        # Not logged here: the interrupted code may be writing to the same stream.
        reactor.callFromThread(_log_stop, signum)
        reactor.callFromThread(process.stop)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _log_stop(signum: int) -> None:
    logger.warning(
        "received %s: fetching nothing more, storing what was fetched",
        signal.Signals(signum).name,
    )


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
