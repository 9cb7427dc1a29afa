"""Spiders, looked up by a listing's ``source``.

Every site profile (crawler/sites.py) is crawled by the one profile-driven spider
(:func:`spider_for`); ``SPIDERS`` holds spiders that are not profile-driven (APIs).
"""

from __future__ import annotations

from crawler.sites import SiteProfile, load_profiles
from crawler.spiders.base import ListingSpider, spider_for

SPIDERS: dict[str, type[ListingSpider]] = {}


def spider_for_source(
    source: str, profiles: dict[str, SiteProfile] | None = None
) -> type[ListingSpider] | None:
    """The spider for listings of ``source``, None when there is none."""
    if source in SPIDERS:
        return SPIDERS[source]
    profiles = load_profiles() if profiles is None else profiles
    return spider_for(profiles[source]) if source in profiles else None
