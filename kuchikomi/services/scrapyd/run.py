"""One crawl run on Scrapyd nodes instead of a local crawl process (docs/production.md#scrapyd).

Politeness, not CPU, bounds a crawl, so a run is spread by site and never one site over several
machines: the run's listings are grouped by site (the listing URL's host,
:func:`crawler.urls.site_of`, within its source: the job runs that source's spider), each site
becomes one Scrapyd job on one node, the largest first on the least loaded node, and every job
stores straight into the shared database like a local crawl process does. A source that is not
crawled page by page from hosts (Google's API) is one job (see :func:`shards`). A job that fails
or is lost fails only its own site's listings: those are the ones left pending. The run is
recorded and finalised here exactly as a local run (kuchikomi.services.crawl), so the summary,
crawl health and the steps after the crawl do not know where it ran.

Before the run is recorded, every node is asked for its versions, and the installed crawler is
uploaded (as an egg) to any node that lacks it: a node that cannot be reached stops the command
before anything is stored.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from crawler import store
from crawler.resolver import ALLOW_PRIVATE_HOSTS
from crawler.scrapyd_project import ENV_SETTING, SITE_SETTING, SOURCE_SETTING, SPIDER_NAME
from crawler.sites import load_profiles_lenient
from crawler.spiders import spider_for_source
from crawler.spiders.base import ListingSpider
from crawler.urls import site_of
from kuchikomi.services.crawl import CrawlSummary, StopRequested, finish_run, start_run
from kuchikomi.services.scrapyd.client import Jobs, ScrapydError, ScrapydNode
from kuchikomi.services.scrapyd.egg import PROJECT, build_egg
from kuchikomi_settings import Settings, get_settings
from models import CrawlRun, CrawlRunListing, Listing
from models.db import session_scope

NodeT = TypeVar("NodeT")

# A node that does not answer for this long while the run waits is given up on: its jobs'
# listings are failed with the reason (its job may still be storing; the run does not wait).
NODE_LOST_AFTER_SECONDS = 300.0


@dataclass(frozen=True)
class Shard:
    """What one Scrapyd job crawls: the run's listings of one site of ``source``, or, with
    ``site`` None, every listing of a source that is not crawled by site (an API)."""

    source: str
    site: str | None = None

    @property
    def name(self) -> str:
        return self.source if self.site is None else self.site

    def sort_key(self) -> tuple[str, str]:
        return (self.source, self.site or "")


@dataclass
class ScrapydJob:
    node: ScrapydNode
    shard: Shard
    job_id: str
    listing_ids: list[int]
    state: str = "pending"  # "pending" | "running" | "finished" | "lost"
    log_url: str = ""

    @property
    def source(self) -> str:
        return self.shard.source

    @property
    def site(self) -> str | None:
        return self.shard.site

    @property
    def listings(self) -> int:
        return len(self.listing_ids)


@dataclass(frozen=True)
class Progress:
    jobs: list[ScrapydJob]
    listings_done: int
    listings_total: int

    def line(self) -> str:
        finished = sum(1 for job in self.jobs if job.state in ("finished", "lost"))
        running = ", ".join(
            f"{job.shard.name}@{job.node}" for job in self.jobs if job.state == "running"
        )
        return (
            f"scrapyd: {finished}/{len(self.jobs)} jobs finished, "
            f"{self.listings_done}/{self.listings_total} listings done"
            + (f"; running: {running}" if running else "")
        )


def job_environment(settings: Settings) -> dict[str, str]:
    """The ``KUCHIKOMI_*`` settings a Scrapyd job needs, as environment variables.

    Secrets are not sent (Scrapyd shows pending jobs' settings to anyone who may list jobs):
    ``KUCHIKOMI_SECRET_KEY`` and the Google client secret, which only Google listings need,
    belong in each node's own environment (docs/production.md#scrapyd).
    """
    environment = {
        "KUCHIKOMI_DATABASE_URL": _absolute_sqlite(settings.database_url),
        "KUCHIKOMI_DATA_DIR": str(settings.data_dir.resolve()),
        "KUCHIKOMI_ALLOW_PRIVATE_HOSTS": str(settings.allow_private_hosts).lower(),
    }
    groups = {
        "CRAWL": settings.crawl.model_dump(mode="json", exclude={"scrapyd_urls"}),
        "GOOGLE": settings.google.model_dump(mode="json", exclude={"client_secret"}),
    }
    for group, values in groups.items():
        for key, value in values.items():
            if value is not None:
                environment[f"KUCHIKOMI_{group}__{key.upper()}"] = (
                    json.dumps(value) if isinstance(value, list | dict) else str(value)
                )
    return environment


def _absolute_sqlite(url: str) -> str:
    """A relative SQLite path (the default ``./var/kuchikomi.db``) made absolute: a Scrapyd job
    runs in Scrapyd's working directory, not this one (a local node sharing this machine's file)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        absolute = str(Path(parsed.database).resolve())
        return parsed.set(database=absolute).render_as_string(hide_password=False)
    return url


def prepare_nodes(urls: list[str]) -> tuple[list[ScrapydNode], str]:
    """Connect to every node and make sure it has this crawler; returns the nodes and version.

    Raises :class:`ScrapydError` naming the first node that cannot be reached or refuses the egg.
    """
    if not urls:
        raise ScrapydError("no Scrapyd node given")
    egg = build_egg()
    nodes = [ScrapydNode(url) for url in urls]
    try:
        for node in nodes:
            if egg.version not in node.versions(PROJECT):
                node.add_version(PROJECT, egg.version, egg.data)
    except BaseException:
        for node in nodes:
            node.close()
        raise
    return nodes, egg.version


def shards(
    listings: Iterable[tuple[int, str, str]], *, by_site: Callable[[str], bool]
) -> dict[Shard, list[int]]:
    """The listings of each job, from the ``(listing id, source, url)`` of each listing.

    ``by_site(source)``: whether the source's listings are split by site. A site profile's
    are: politeness is one request at a time per host, so a host is the unit a node must own
    whole, and the hosts of one profile (the generic ``schema_org`` profile reads every
    clinic's own site) are independent of each other. An API source is not: its listings are
    all read from one API within one client's quota, not from the hosts in their URLs, so
    splitting it would only have several nodes share that one quota.
    """
    grouped: dict[Shard, list[int]] = {}
    for listing_id, source, url in listings:
        shard = Shard(source, site_of(url) if by_site(source) else None)
        grouped.setdefault(shard, []).append(listing_id)
    return grouped


def assign(shard_sizes: dict[Shard, int], nodes: Sequence[NodeT]) -> dict[Shard, NodeT]:
    """Each shard to one node, the largest shards first, each to the least loaded node
    (fewest listings so far; the earlier node on a tie)."""
    load = [0] * len(nodes)
    assignment: dict[Shard, NodeT] = {}
    for shard, listings in sorted(
        shard_sizes.items(), key=lambda item: (-item[1], item[0].sort_key())
    ):
        index = min(range(len(nodes)), key=lambda i: (load[i], i))
        assignment[shard] = nodes[index]
        load[index] += listings
    return assignment


def run_crawl_on_scrapyd(
    *,
    urls: list[str],
    listing_ids: list[int] | None,
    trigger: str = "cli",
    full: bool = False,
    progress: Callable[[Progress], None] | None = None,
) -> CrawlSummary:
    """Crawl the listings (None = every listing) as Scrapyd jobs on ``urls``, one job per site.

    Raises :class:`ScrapydError` (before the run is recorded) when a node cannot be used, and
    ValueError as :func:`kuchikomi.services.crawl.run_crawl` does.
    """
    settings = get_settings()
    nodes, version = prepare_nodes(urls)
    try:
        run_id = start_run(listing_ids=listing_ids, trigger=trigger)
        log_path = settings.data_dir / "logs" / f"crawl-run-{run_id}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        returncode: int | None = None
        jobs: list[ScrapydJob] = []
        stopped = False
        try:
            jobs = _schedule(run_id, nodes, version, full=full, settings=settings, log=log_path)
            _wait(run_id, jobs, settings=settings, progress=progress)
            _fail_unreported(run_id, jobs, log_path)
            returncode = 0
        except (StopRequested, KeyboardInterrupt):
            stopped = True  # SIGTERM or Ctrl-C: the run is recorded as interrupted
            raise
        finally:
            if returncode is None:  # interrupted (Ctrl-C, or a node failed mid-way)
                _cancel(jobs)
            _collect_logs(jobs, log_path)
            _record_jobs(run_id, jobs)
            summary = finish_run(
                run_id, returncode=returncode, log_path=log_path, interrupted=stopped
            )
        return summary
    finally:
        for node in nodes:
            node.close()


def _pending(run_id: int) -> list[tuple[int, str, str]]:
    """(listing id, source, url) of the run's pending listings."""
    with session_scope() as session:
        return list(
            session.execute(
                select(Listing.id, Listing.source, Listing.url)
                .join(CrawlRunListing, CrawlRunListing.listing_id == Listing.id)
                .where(CrawlRunListing.run_id == run_id, CrawlRunListing.status == "pending")
            ).tuples()
        )


def _job_id(run_id: int, shard: Shard) -> str:
    # Unique on the node even when another database has a run of the same number; the site is
    # only there to be read (it is also the name of the job's log file on the node).
    readable = re.sub(
        r"[^A-Za-z0-9.-]+", "_", shard.source + ("" if shard.site is None else f"-{shard.site}")
    )
    return f"run{run_id}-{readable}-{uuid.uuid4().hex[:8]}"


def _schedule(
    run_id: int,
    nodes: list[ScrapydNode],
    version: str,
    *,
    full: bool,
    settings: Settings,
    log: Path,
) -> list[ScrapydJob]:
    pending = _pending(run_id)
    profiles, profile_errors = load_profiles_lenient()
    spiders = {source: spider_for_source(source, profiles) for _id, source, _url in pending}
    # As in a local crawl process (crawler.run): a source without a crawler fails its own
    # listings here, and only sources that can be crawled become jobs.
    for source in [s for s, spider in spiders.items() if spider is None]:
        error = (
            f"the site profile cannot be used: {profile_errors[source]}"
            if source in profile_errors
            else f"no crawler for listing source {source!r}"
        )
        for task in store.pending_listings(run_id=run_id, source=source):
            store.finish_listing(
                run_id=run_id,
                listing_id=task.listing_id,
                status="failed",
                complete=False,
                error=error,
            )
    grouped = shards(
        (listing for listing in pending if spiders[listing[1]] is not None),
        by_site=lambda source: _crawled_by_site(spiders[source]),
    )
    environment = json.dumps(job_environment(settings), sort_keys=True)
    jobs: list[ScrapydJob] = []
    with open(log, "a", encoding="utf-8") as out:
        sizes = {shard: len(ids) for shard, ids in grouped.items()}
        for shard, node in assign(sizes, nodes).items():
            job = ScrapydJob(node, shard, _job_id(run_id, shard), grouped[shard])
            job_settings = {
                ENV_SETTING: environment,
                SOURCE_SETTING: shard.source,
                ALLOW_PRIVATE_HOSTS: str(settings.allow_private_hosts),
            }
            if shard.site is not None:
                job_settings[SITE_SETTING] = shard.site
            node.schedule(
                project=PROJECT,
                spider=SPIDER_NAME,
                version=version,
                job_id=job.job_id,
                args={"run_id": str(run_id), "full": "true" if full else "false"},
                settings=job_settings,
            )
            out.write(
                f"scheduled {_described(shard)} ({job.listings} listings) on {node}"
                f" as {job.job_id}\n"
            )
            jobs.append(job)
    return jobs


def _crawled_by_site(spider: type | None) -> bool:
    # Profile spiders read pages from the listing's host and can be limited to one
    # (crawler/scrapyd_project.py); any other spider reads an API (see shards).
    return spider is not None and issubclass(spider, ListingSpider)


def _described(shard: Shard) -> str:
    return shard.source if shard.site is None else f"site {shard.site} ({shard.source})"


def _listings_done(run_id: int) -> tuple[int, int]:
    with session_scope() as session:
        rows = session.execute(
            select(CrawlRunListing.status, func.count())
            .where(CrawlRunListing.run_id == run_id)
            .group_by(CrawlRunListing.status)
        ).all()
    total = sum(count for _status, count in rows)
    pending = sum(count for status, count in rows if status == "pending")
    return total - pending, total


def _wait(
    run_id: int,
    jobs: list[ScrapydJob],
    *,
    settings: Settings,
    progress: Callable[[Progress], None] | None,
) -> None:
    """Poll every node's job list until each of this run's jobs has finished (or is lost)."""
    unreachable_since: dict[int, float] = {}
    last_line = ""
    while True:
        by_node: dict[int, list[ScrapydJob]] = {}
        for job in jobs:
            if job.state not in ("finished", "lost"):
                by_node.setdefault(id(job.node), []).append(job)
        for node_jobs in by_node.values():
            node = node_jobs[0].node
            try:
                listed = node.jobs(PROJECT)
            except ScrapydError:
                since = unreachable_since.setdefault(id(node), time.monotonic())
                if time.monotonic() - since > NODE_LOST_AFTER_SECONDS:
                    for job in node_jobs:
                        job.state = "lost"
                continue
            unreachable_since.pop(id(node), None)
            for job in node_jobs:
                _update(job, listed)
        if progress is not None:
            done, total = _listings_done(run_id)
            report = Progress(jobs=jobs, listings_done=done, listings_total=total)
            if report.line() != last_line:
                last_line = report.line()
                progress(report)
        if all(job.state in ("finished", "lost") for job in jobs):
            return
        time.sleep(settings.crawl.scrapyd_poll_seconds)


def _update(job: ScrapydJob, listed: Jobs) -> None:
    if job.job_id in listed.finished:
        job.state, job.log_url = "finished", listed.finished[job.job_id]
    elif job.job_id in listed.running:
        job.state = "running"
    elif job.job_id in listed.pending:
        job.state = "pending"
    else:
        # Scrapyd forgot the job (restarted; its job list is in memory): nothing will report.
        job.state = "lost"


def _fail_unreported(run_id: int, jobs: list[ScrapydJob], log_path: Path) -> None:
    """Fail each job's listings it left pending, saying which job on which node left them.

    Only that job's listings: the other sites' jobs reported on theirs, whatever this one did.
    """
    with session_scope() as session:
        left = set(
            session.scalars(
                select(CrawlRunListing.listing_id).where(
                    CrawlRunListing.run_id == run_id, CrawlRunListing.status == "pending"
                )
            )
        )
    for job in jobs:
        what = (
            "was given up on (its node stopped answering, or forgot the job)"
            if job.state == "lost"
            else "ended"
        )
        for listing_id in sorted(left.intersection(job.listing_ids)):
            store.finish_listing(
                run_id=run_id,
                listing_id=listing_id,
                status="failed",
                complete=False,
                error=(
                    f"Scrapyd job {job.job_id} on {job.node} {what} without reporting on this "
                    f"listing; see {log_path}"
                ),
            )


def _cancel(jobs: list[ScrapydJob]) -> None:
    for job in jobs:
        if job.state in ("pending", "running"):
            try:
                job.node.cancel(PROJECT, job.job_id)
            except ScrapydError:
                pass  # the node is gone; so is its job, or it will find nothing left pending


def _collect_logs(jobs: list[ScrapydJob], log_path: Path) -> None:
    """Append each job's Scrapyd log to the run's log, so that it reads like a local run's."""
    with open(log_path, "a", encoding="utf-8") as out:
        for job in jobs:
            out.write(f"\n===== {_described(job.shard)}: Scrapyd job {job.job_id} on {job.node}")
            out.write(f" ({job.state})\n")
            if not job.log_url:
                continue
            try:
                out.write(job.node.log(job.log_url))
            except ScrapydError as exc:
                out.write(f"(log not available: {exc})\n")


def _record_jobs(run_id: int, jobs: list[ScrapydJob]) -> None:
    with session_scope() as session:
        run = session.get(CrawlRun, run_id)
        if run is not None:
            run.stats = {
                **(run.stats or {}),
                "scrapyd": [
                    {
                        "node": str(job.node),
                        "source": job.source,
                        "site": job.site,
                        "job": job.job_id,
                        "listings": job.listings,
                        "state": job.state,
                        "log_url": job.log_url,
                    }
                    for job in jobs
                ],
            }
