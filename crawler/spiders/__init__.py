"""Spiders, looked up by a listing's ``source``.

Every site profile (crawler/sites.py) is crawled by the one profile-driven spider
(:func:`spider_for`); ``SPIDERS`` holds spiders that are not profile-driven (APIs).
"""

from __future__ import annotations

import scrapy

from crawler.sites import SiteProfile, load_profiles
from crawler.spiders.base import spider_for
from crawler.spiders.google_business_profile import GoogleBusinessProfileSpider

SPIDERS: dict[str, type[scrapy.Spider]] = {
    # Not a web page adapter: reads the owner's reviews through Google's API.
    GoogleBusinessProfileSpider.name: GoogleBusinessProfileSpider,
}


def spider_for_source(
    source: str, profiles: dict[str, SiteProfile] | None = None
) -> type[scrapy.Spider] | None:
    """The spider for listings of ``source``, None when there is none."""
    if source in SPIDERS:
        return SPIDERS[source]
    profiles = load_profiles() if profiles is None else profiles
    return spider_for(profiles[source]) if source in profiles else None
