"""Item pipelines, one job each; their order is set (and explained) in crawler/settings.py."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from crawler import store
from crawler.items import ReviewPageItem

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class StoreReviewPagePipeline:
    """Upserts one page's reviews with their sightings in one transaction (idempotent)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StoreReviewPagePipeline:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        if isinstance(item, ReviewPageItem):
            run_id: int = self.crawler.spider.run_id  # type: ignore[union-attr]
            seen, new = store.save_page(run_id=run_id, page=item)
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
