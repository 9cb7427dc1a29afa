"""The generic schema.org spider: any site that marks reviews up as JSON-LD or microdata."""

from __future__ import annotations

from crawler.sites import SCHEMA_ORG
from crawler.spiders.base import ListingSpider


class SchemaOrgSpider(ListingSpider):
    name = "schema_org"
    site = SCHEMA_ORG
