"""Item pipelines, one job each; their order is set (and explained) in crawler/settings.py."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import DropItem
from scrapy.utils.defer import maybe_deferred_to_future

from crawler.batch import batch_for
from crawler.items import ReviewItem, ReviewPageItem
from models.text import MAX_REVIEW_CHARS

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


def _capped(review: ReviewItem, page_url: str) -> ReviewItem:
    """The review with at most MAX_REVIEW_CHARS of text: a longer one is stored cut, and said so
    in the crawl log; the archived page (evidence) keeps all of it (docs/contracts.md#text-limits).
    """
    if len(review.text) <= MAX_REVIEW_CHARS:
        return review
    logger.warning(
        "review %s on %s has %s characters; its first %s are stored (the archived page has all)",
        review.external_id,
        page_url,
        f"{len(review.text):,}",
        f"{MAX_REVIEW_CHARS:,}",
    )
    return replace(review, text=review.text[:MAX_REVIEW_CHARS])


class StoreReviewPagePipeline:
    """Stores each page's reviews with their sightings, in batches (crawler/batch.py), each
    review's text capped at MAX_REVIEW_CHARS.

    An item leaves this pipeline only once its page is durable; a page that cannot be stored
    fails its listing. Closing the pipeline writes what is still queued, before the spider
    records any listing's outcome.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.batch = batch_for(crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StoreReviewPagePipeline:
        return cls(crawler)

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, ReviewPageItem):
            return item
        item.reviews = [_capped(review, item.page_url) for review in item.reviews]
        try:
            seen, new = await maybe_deferred_to_future(self.batch.add_page(item))
        except Exception as exc:
            # Nothing of the page is stored (one transaction); its listing fails with the
            # reason, rather than ending "ok" with reviews missing.
            # The first line of a database error names it; the SQL after it does not help.
            reason = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:300]
            error = f"page {item.page_number} ({item.page_url}) could not be stored: {reason}"
            logger.error("listing %s: %s", item.listing_id, error, exc_info=exc)
            self.crawler.spider.store_failed(item.listing_id, error)  # type: ignore[union-attr]
            raise DropItem(error) from exc
        stats = self.crawler.stats
        if stats is not None:
            stats.inc_value("kuchikomi/reviews_seen", seen)
            stats.inc_value("kuchikomi/reviews_new", new)
        logger.info(
            "listing %s page %s: %s reviews, %s new (%s)",
            item.listing_id,
            item.page_number,
            seen,
            new,
            item.page_url,
        )
        return item

    async def close_spider(self) -> None:
        await maybe_deferred_to_future(self.batch.flush())
