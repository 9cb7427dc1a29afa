"""How much of a site fits in one night, which listings a run takes, and what it left.

Politeness bounds a crawl, not CPU: one request at a time per site, ``download_delay`` seconds
apart, gives a site ``window_hours × 3600 / download_delay`` pages per night (its budget; the
downloader's per-site concurrency is 1, crawler/settings.py). A run over every listing
(``crawl --all``, the scheduler) therefore takes each site's listings stalest first (oldest last
success; never read first) until the site's budget is used, estimating a listing's pages by its
previous crawl, and leaves the rest for the next nights. A listing that would otherwise not be
read within ``max_staleness_days`` is taken anyway: staleness wins, and the run says it needs
more than a night (docs/production.md#budget).

"Site" here is a host (``crawler.urls.site_of``): that is what one request at a time is counted
against, and what a crawl on Scrapyd nodes is spread by.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crawler.urls import site_of
from kuchikomi_settings import CrawlSettings, get_settings
from models import CrawlRunListing, Listing
from models.base import utcnow


@dataclass(frozen=True)
class SiteLoad:
    site: str
    listings: int  # crawled by this run
    deferred: int  # left for a later night by this run
    pages: int  # read by this run
    budget: int | None  # pages per night; None when no delay is set (no politeness bound)
    nights: float | None  # pages / budget
    # Days since the stalest listing of the site was last read successfully (None: one never was).
    stalest_days: float | None
    overdue: int  # listings not read successfully within max_staleness_days

    @property
    def over_budget(self) -> bool:
        return self.nights is not None and self.nights > 1.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "over_budget": self.over_budget}


def nightly_budget(crawl: CrawlSettings) -> int | None:
    """Pages one site can be asked for in one night's window at the configured delay."""
    if crawl.download_delay <= 0:
        return None
    return max(1, int(crawl.window_hours * 3600 / crawl.download_delay))


@dataclass(frozen=True)
class _Candidate:
    id: int
    site: str
    last_success_at: datetime | None
    estimated_pages: int


def _candidates(session: Session) -> list[_Candidate]:
    latest = (
        select(CrawlRunListing.listing_id, func.max(CrawlRunListing.id).label("row_id"))
        .group_by(CrawlRunListing.listing_id)
        .subquery()
    )
    rows = session.execute(
        select(Listing.id, Listing.url, Listing.last_success_at, CrawlRunListing.pages)
        .outerjoin(latest, latest.c.listing_id == Listing.id)
        .outerjoin(CrawlRunListing, CrawlRunListing.id == latest.c.row_id)
    ).all()
    return [
        _Candidate(row.id, site_of(row.url), _aware(row.last_success_at), max(1, row.pages or 1))
        for row in rows
    ]


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; every stored time is UTC.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _staleness_key(candidate: _Candidate) -> tuple[bool, datetime, int]:
    never = candidate.last_success_at is None
    return (not never, candidate.last_success_at or datetime.min, candidate.id)


def listings_for_tonight(*, session: Session, now: datetime | None = None) -> list[int] | None:
    """The listings a run over every listing takes tonight, stalest first per site.

    None when every listing fits in its site's budget (the run simply takes them all).
    """
    crawl = get_settings().crawl
    budget = nightly_budget(crawl)
    if budget is None:
        return None
    now = now or utcnow()
    # Skipping a listing tonight means reading it tomorrow at the earliest.
    must_read_before = now - timedelta(days=crawl.max_staleness_days - 1)
    by_site: dict[str, list[_Candidate]] = {}
    for candidate in _candidates(session):
        by_site.setdefault(candidate.site, []).append(candidate)
    taken: list[int] = []
    deferred = 0
    for candidates in by_site.values():
        used = 0
        full = False
        for candidate in sorted(candidates, key=_staleness_key):
            overdue = (
                candidate.last_success_at is None or candidate.last_success_at <= must_read_before
            )
            # Strictly stalest first: once one does not fit, no fresher one jumps the queue.
            full = full or (used > 0 and used + candidate.estimated_pages > budget)
            if overdue or not full:
                taken.append(candidate.id)
                used += candidate.estimated_pages
            else:
                deferred += 1
    return sorted(taken) if deferred else None


def site_loads(
    *, session: Session, run_id: int, every_listing: bool, now: datetime | None = None
) -> list[SiteLoad]:
    """Per site: what the run read against the site's budget, and how stale the site is now.

    ``every_listing``: the run was over every listing, so a listing it left out was deferred
    (a run over some clinics defers nothing). Sorted by load (nights needed), heaviest first.
    """
    crawl = get_settings().crawl
    budget = nightly_budget(crawl)
    now = now or utcnow()
    in_run = {
        row.listing_id: row.pages
        for row in session.execute(
            select(CrawlRunListing.listing_id, CrawlRunListing.pages).where(
                CrawlRunListing.run_id == run_id
            )
        )
    }
    sites: dict[str, dict[str, Any]] = {}
    for listing_id, url, last_success_at, created_at in session.execute(
        select(Listing.id, Listing.url, Listing.last_success_at, Listing.created_at)
    ).tuples():
        site = sites.setdefault(
            site_of(url),
            {"listings": 0, "deferred": 0, "pages": 0, "ages": [], "overdue": 0, "in_run": False},
        )
        if listing_id in in_run:
            site["listings"] += 1
            site["pages"] += in_run[listing_id]
            site["in_run"] = True
        elif every_listing:
            site["deferred"] += 1
        success = _aware(last_success_at)
        age = None if success is None else (now - success).total_seconds() / 86400
        site["ages"].append(age)
        # A listing never read is overdue once it has been registered that long.
        registered = _aware(created_at) or now
        waited = age if age is not None else (now - registered).total_seconds() / 86400
        if waited > crawl.max_staleness_days:
            site["overdue"] += 1
    loads = []
    for name, site in sites.items():
        if not site["in_run"]:
            continue  # a site this run did not touch (crawl --clinic)
        ages = site["ages"]
        nights = None if budget is None else site["pages"] / budget
        loads.append(
            SiteLoad(
                site=name,
                listings=site["listings"],
                deferred=site["deferred"],
                pages=site["pages"],
                budget=budget,
                nights=None if nights is None else math.ceil(nights * 100) / 100,
                stalest_days=None if None in ages else round(max(ages), 1),
                overdue=site["overdue"],
            )
        )
    return sorted(loads, key=lambda load: (-(load.nights or 0), -load.pages, load.site))
