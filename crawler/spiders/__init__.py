"""Spiders, one per site adapter, looked up by a listing's ``source``."""

from __future__ import annotations

import scrapy

from crawler.spiders.google_business_profile import GoogleBusinessProfileSpider
from crawler.spiders.schema_org import SchemaOrgSpider

SPIDERS: dict[str, type[scrapy.Spider]] = {
    SchemaOrgSpider.site.name: SchemaOrgSpider,
    # Not a web page adapter: reads the owner's reviews through Google's API.
    GoogleBusinessProfileSpider.name: GoogleBusinessProfileSpider,
}
