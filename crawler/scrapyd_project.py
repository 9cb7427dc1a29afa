"""The crawler as a Scrapyd project: what a Scrapyd job runs (docs/production.md#scrapyd).

A Scrapyd node runs ``scrapy crawl kuchikomi`` with this module as the project's settings. The
job's own configuration does not come from the node's environment but from the machine that
scheduled it, as Scrapy settings (``-s``):

- ``KUCHIKOMI_ENV``: the ``KUCHIKOMI_*`` settings of the scheduling machine that a crawl needs
  (database URL, data directory, politeness), as JSON;
- ``KUCHIKOMI_SOURCE``: the listing source (site profile or API) whose spider this job runs;
- ``KUCHIKOMI_SITE``: the one site (host, :func:`crawler.urls.site_of`) of that source whose
  listings this job crawls; absent for a source crawled as one job (an API such as Google's);
- ``KUCHIKOMI_ALLOW_PRIVATE_HOSTS``: read by the resolver of the crawl process itself.

Spider arguments ``run_id`` and ``full`` are the same as in ``python -m crawler.run``. One job
crawls the run's pending listings of one site, exactly like one spider of a local crawl run
restricted to that site's listings.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import scrapy
import scrapy.spiderloader
from scrapy.settings import BaseSettings

from crawler.settings import scrapy_settings
from crawler.sites import load_profiles_lenient
from crawler.spiders import spider_for_source
from crawler.spiders.base import ListingSpider
from kuchikomi_settings import get_settings

logger = logging.getLogger(__name__)

SPIDER_NAME = "kuchikomi"
ENV_SETTING = "KUCHIKOMI_ENV"
SOURCE_SETTING = "KUCHIKOMI_SOURCE"
SITE_SETTING = "KUCHIKOMI_SITE"


def _apply_environment(settings: BaseSettings) -> None:
    """Make this job's ``get_settings()`` the scheduling machine's (see the module docstring).

    The job is a process of its own, started for this one crawl, so setting its environment
    changes nothing else; every layer then reads the same settings as in a local crawl.
    """
    from models.db import reset_engine

    environment = json.loads(settings.get(ENV_SETTING) or "{}")
    os.environ.update({str(key): str(value) for key, value in environment.items()})
    get_settings.cache_clear()
    reset_engine()


def _loader(cls: type) -> type:
    """Declare Scrapy's spider loader interface where Scrapy still checks it (before 2.13)."""
    if hasattr(scrapy.spiderloader, "SpiderLoaderProtocol"):
        return cls
    from scrapy.interfaces import ISpiderLoader  # deprecated (and unneeded) since 2.13
    from zope.interface import implementer

    declared: type = implementer(ISpiderLoader)(cls)
    return declared


@_loader
class RunSpiderLoader:
    """Scrapy's spider loader for Scrapyd jobs: one spider name, ``kuchikomi``, which is the
    spider of the job's source (a site profile's spider, or an API spider), limited to the
    job's site when it has one."""

    def __init__(self, settings: BaseSettings) -> None:
        self.source = settings.get(SOURCE_SETTING)
        self.site = settings.get(SITE_SETTING) or None
        if settings.get(ENV_SETTING):
            _apply_environment(settings)

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> RunSpiderLoader:
        return cls(settings)

    def find_by_request(self, request: Any) -> list[str]:
        return []

    def load(self, spider_name: str) -> type[scrapy.Spider]:
        if spider_name != SPIDER_NAME:
            raise KeyError(f"Spider not found: {spider_name}")
        if not self.source:
            raise KeyError(f"the {SPIDER_NAME} spider needs the {SOURCE_SETTING} setting")
        profiles, errors = load_profiles_lenient()
        spider_cls = spider_for_source(self.source, profiles)
        if spider_cls is None:
            problem = errors.get(self.source)
            raise KeyError(
                f"no crawler for listing source {self.source!r}"
                + (f": the site profile cannot be used: {problem}" if problem else "")
            )
        if self.site is not None and not issubclass(spider_cls, ListingSpider):
            # Crawling every listing instead would crawl other jobs' listings too.
            raise KeyError(f"listings of {self.source!r} cannot be crawled one site at a time")

        @classmethod  # type: ignore[misc]
        def update_settings(cls: type[scrapy.Spider], settings: BaseSettings) -> None:
            # The crawl's settings as a local crawl has them, then the spider's own. Above the
            # "project" priority: Scrapy (2.19) copies the process's settings, which are this
            # node's (the module's globals below), over a crawler's own settings at their own
            # priority when the crawl starts, and the node's politeness (delay, AutoThrottle)
            # would replace the scheduling machine's.
            settings.setdict(scrapy_settings(get_settings()), priority="spider")
            super(job_spider, cls).update_settings(settings)  # type: ignore[misc]

        # Which code runs: the egg's unpacked copy (crawler/scrapyd_egg_entry.py) on a node.
        root = Path(__file__).resolve().parent.parent
        logger.info("kuchikomi-guard crawler loaded from %s", root)
        logger.info("crawling %s listings of %s", self.source, self.site or "every site")
        job_spider: type[scrapy.Spider] = type(
            spider_cls.__name__,
            (spider_cls,),
            {"update_settings": update_settings}
            | ({} if self.site is None else {"only_site": self.site}),
        )
        return job_spider

    # Last: a method named ``list`` would shadow the builtin in the annotations below it.
    def list(self) -> list[str]:
        return [SPIDER_NAME]


# The process-wide settings (the DNS resolver is installed once per process, before any spider
# is loaded): the same as a local crawl's, from this node's own settings for now; each job's
# spider replaces them with the scheduling machine's (RunSpiderLoader.load).
globals().update(scrapy_settings(get_settings()))
SPIDER_LOADER_CLASS = "crawler.scrapyd_project.RunSpiderLoader"
