"""Spiders, one per site adapter, looked up by a listing's ``source``."""

from __future__ import annotations

from crawler.spiders.base import ListingSpider
from crawler.spiders.schema_org import SchemaOrgSpider

SPIDERS: dict[str, type[ListingSpider]] = {SchemaOrgSpider.site.name: SchemaOrgSpider}
