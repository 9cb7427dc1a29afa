"""The generic schema.org spider: any site that marks reviews up as JSON-LD or microdata.

Kept as a named class for imports; crawls use :func:`crawler.spiders.base.spider_for` with the
profile in force (an operator may override the shipped one).
"""

from __future__ import annotations

from crawler.sites import SCHEMA_ORG
from crawler.spiders.base import ListingSpider


class SchemaOrgSpider(ListingSpider):
    name = "schema_org"
    site = SCHEMA_ORG
