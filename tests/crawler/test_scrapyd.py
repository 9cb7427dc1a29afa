"""Crawl runs on real Scrapyd daemons (the PyPI ``scrapyd``, default settings, port and poll
interval aside).

Two nodes are started on 127.0.0.1 with working directories of their own; the demo portal is
served on 127.0.0.1 and, for a second site, reached as ``localhost`` (another host, so another
site), so a run has two sites and each node gets one. What the nodes store is compared with
what a local crawl of the same listings stores.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from crawler.sites import SHIPPED_DIR
from kuchikomi.cli import app
from kuchikomi.demo.portal import DemoPortal, listing_urls, serve
from kuchikomi.services.scrapyd.egg import PROJECT, build_egg
from kuchikomi.services.scrapyd.run import Shard, assign, shards
from models import CrawlRun, Listing, Review
from models.db import new_session
from tests.conftest import _empty_tables
from tests.crawler.conftest import PORTAL_TODAY
from tests.live_app import free_port

# A node whose jobs all fail at once (a node without the crawler's libraries, say) but which
# still lists spiders, as Scrapyd does when an egg is uploaded or a job scheduled.
_CANNOT_CRAWL_RUNNER = """\
import sys

if sys.argv[1:2] == ["crawl"]:
    sys.exit("this node cannot crawl")
from scrapyd.runner import main

main()
"""


def _start_scrapyd(
    directory: Path, *, cannot_crawl: bool = False
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    directory.mkdir(parents=True)
    # Scrapyd reads ./scrapyd.conf; everything but these (and the runner) is its default. Its
    # poller looks for queued jobs every 5 s by default, seconds a test would only wait out.
    conf = f"[scrapyd]\nhttp_port = {port}\npoll_interval = 0.2\n"
    if cannot_crawl:
        # Jobs run as `python -m RUNNER` in this directory.
        (directory / "cannot_crawl.py").write_text(_CANNOT_CRAWL_RUNNER)
        conf += "runner = cannot_crawl\n"
    (directory / "scrapyd.conf").write_text(conf)
    log = open(directory / "scrapyd.out", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "scrapyd"], cwd=directory, stdout=log, stderr=subprocess.STDOUT
    )
    return process, f"http://127.0.0.1:{port}"


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"scrapyd exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/daemonstatus.json", timeout=2).json()["status"] == "ok":
                return
        except (httpx.HTTPError, ValueError):
            time.sleep(0.2)
    raise RuntimeError(f"scrapyd at {url} did not start")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def scrapyd_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    root = tmp_path_factory.mktemp("scrapyd")
    started = [_start_scrapyd(root / f"node{n}") for n in (1, 2)]
    try:
        for process, url in started:
            _wait_until_up(url, process)
        yield [url for _process, url in started]
    finally:
        for process, _url in started:
            _stop(process)


@pytest.fixture(scope="module")
def node_that_cannot_crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process, url = _start_scrapyd(tmp_path_factory.mktemp("scrapyd") / "broken", cannot_crawl=True)
    try:
        _wait_until_up(url, process)
        yield url
    finally:
        _stop(process)


@pytest.fixture
def portal(model_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("KUCHIKOMI_CRAWL__SCRAPYD_POLL_SECONDS", "0.5")
    from kuchikomi_settings import get_settings

    get_settings.cache_clear()
    with serve(DemoPortal(today=PORTAL_TODAY)) as base_url:
        yield base_url


def _localhost_profile(data_dir: Path) -> None:
    """A second source: the portal as "localhost" read by an operator profile of its own."""
    sites = data_dir / "sites"
    sites.mkdir(parents=True)
    profile = (SHIPPED_DIR / "schema_org.toml").read_text("utf-8")
    (sites / "local_portal.toml").write_text(
        profile.replace("hosts = []", 'hosts = ["localhost"]'), "utf-8"
    )


def kuchikomi(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _register(base_url: str) -> None:
    for number, (name, url) in enumerate(listing_urls(base_url)):
        if number % 2:
            url = url.replace("127.0.0.1", "localhost")
        code, _out, err = kuchikomi("clinic", "add", "--name", name, "--url", url)
        assert code == 0, err


def _stored() -> dict[tuple[str, str], tuple[object, ...]]:
    with new_session() as session:
        rows = session.execute(
            select(Listing.url, Review).join(Review, Review.listing_id == Listing.id)
        ).all()
        return {
            (url, r.external_id): (
                r.author,
                r.rating,
                r.text,
                # "3日前" is estimated against the time of the crawl, which differs: compared
                # apart (_estimated_dates).
                r.posted_at if r.posted_at_exact else None,
                r.posted_at_raw,
                r.posted_at_exact,
                r.url,
                r.content_hash,
            )
            for url, r in rows
        }


def _estimated_dates() -> dict[tuple[str, str], datetime]:
    with new_session() as session:
        rows = session.execute(
            select(Listing.url, Review.external_id, Review.posted_at)
            .join(Review, Review.listing_id == Listing.id)
            .where(Review.posted_at_exact.is_(False))
        ).all()
        return {(url, external_id): posted_at for url, external_id, posted_at in rows}


def _outcomes(report: dict[str, object]) -> dict[str, tuple[object, ...]]:
    listings = report["listings"]
    assert isinstance(listings, list)
    return {
        o["url"]: (o["status"], o["pages"], o["reviews_seen"], o["reviews_new"], o["error"])
        for o in listings
    }


def _crawled_by_job(log: str) -> dict[tuple[str, str], list[str]]:
    """(site, node) of each Scrapyd job → the listing URLs it crawled, from the run's log."""
    crawled = {}
    for section in log.split("\n===== ")[1:]:
        header = re.match(r"site (\S+) \(\w+\): Scrapyd job \S+ on (\S+) ", section)
        assert header, section[:200]
        crawled[(header[1], header[2])] = re.findall(r"crawling listing \d+: (\S+)", section)
    return crawled


def test_a_run_is_sharded_by_site_largest_first_on_the_least_loaded_node() -> None:
    pending = list(
        enumerate(
            [
                ("schema_org", "https://clinic-a.example/reviews"),
                ("schema_org", "https://Clinic-A.example:8443/other"),  # same host: same site
                ("schema_org", "https://clinic-a.example/third"),
                ("schema_org", "https://clinic-b.example/r"),
                ("schema_org", "https://clinic-c.example/r"),
                ("schema_org", "https://clinic-c.example/s"),
                ("qlife", "https://www.qlife.jp/a"),
                ("qlife", "https://www.qlife.jp/b"),
                ("google_business_profile", "https://maps.google.com/?cid=1"),
                ("google_business_profile", "https://maps.google.com/?cid=2"),
                ("google_business_profile", "https://business.google.com/x"),
                ("google_business_profile", "https://www.google.com/maps/place/y"),
            ]
        )
    )

    grouped = shards(
        [(n, source, url) for n, (source, url) in pending],
        by_site=lambda source: source != "google_business_profile",
    )

    # One job per host of a profile; the API's listings in one job whatever their URLs.
    assert grouped == {
        Shard("schema_org", "clinic-a.example"): [0, 1, 2],
        Shard("schema_org", "clinic-b.example"): [3],
        Shard("schema_org", "clinic-c.example"): [4, 5],
        Shard("qlife", "www.qlife.jp"): [6, 7],
        Shard("google_business_profile"): [8, 9, 10, 11],
    }
    sizes = {shard: len(ids) for shard, ids in grouped.items()}
    assignment = assign(sizes, ["node1", "node2"])
    # Listings so far on (node1, node2): (4, 0) (4, 3) (4, 5) (6, 5) (6, 6); on a tie of sizes
    # qlife comes before schema_org.
    assert assignment == {
        Shard("google_business_profile"): "node1",
        Shard("schema_org", "clinic-a.example"): "node2",
        Shard("qlife", "www.qlife.jp"): "node2",
        Shard("schema_org", "clinic-c.example"): "node1",
        Shard("schema_org", "clinic-b.example"): "node2",
    }
    # One node takes everything; more nodes than jobs leave the last ones idle.
    assert set(assign(sizes, ["only"]).values()) == {"only"}
    assert sorted(assign({Shard("schema_org", "a"): 1}, ["n1", "n2", "n3"]).values()) == ["n1"]


@pytest.mark.slow  # two Scrapyd daemons, two crawls
def test_sharded_scrapyd_crawl_stores_what_a_local_crawl_stores(
    portal: str, scrapyd_nodes: list[str]
) -> None:
    _register(portal)
    with new_session() as session:
        listings = list(session.scalars(select(Listing)))
    # Two hosts of one profile: two sites, as far apart as two clinics' own web sites.
    assert {listing.source for listing in listings} == {"schema_org"}
    urls_by_site: dict[str, list[str]] = {}
    for listing in listings:
        urls_by_site.setdefault(httpx.URL(listing.url).host, []).append(listing.url)
    assert sorted(len(urls) for urls in urls_by_site.values()) == [2, 3]

    code, out, err = kuchikomi(
        "crawl", "--all", "--scrapyd", ",".join(scrapyd_nodes), "--format", "json"
    )
    assert code == 0, err + out
    on_scrapyd = json.loads(out)
    assert on_scrapyd["status"] == "ok"
    assert len(on_scrapyd["listings"]) == 5
    # The progress display, on stderr while waiting.
    assert "scrapyd: 2/2 jobs finished, 5/5 listings done" in err
    # The egg of this installation was uploaded to both nodes.
    version = build_egg().version
    for url in scrapyd_nodes:
        versions = httpx.get(f"{url}/listversions.json", params={"project": PROJECT}).json()
        assert versions["versions"] == [version]
    # One job per site, the larger site on the first node, each job's log kept with the run.
    with new_session() as session:
        run = session.get(CrawlRun, on_scrapyd["run_id"])
        assert run is not None
        jobs = run.stats["scrapyd"]
    assert {(job["source"], job["site"], job["listings"], job["node"]) for job in jobs} == {
        ("schema_org", "127.0.0.1", 3, scrapyd_nodes[0]),
        ("schema_org", "localhost", 2, scrapyd_nodes[1]),
    }
    assert {job["state"] for job in jobs} == {"finished"}
    log = Path(run.stats["log_path"]).read_text("utf-8")
    assert log.count("Spider closed (finished)") == 2
    assert "scheduled site localhost (schema_org) (2 listings) on" in log
    # Each site entirely in its own job, on its own node: every listing once, none elsewhere.
    crawled = _crawled_by_job(log)
    assert {site: sorted(urls) for (site, node), urls in crawled.items()} == {
        site: sorted(urls) for site, urls in urls_by_site.items()
    }
    assert sorted(node for _site, node in crawled) == sorted(scrapyd_nodes)
    # What ran is the uploaded egg (unpacked on the node), not this checkout.
    assert log.count(f"kuchikomi-guard crawler loaded from {tempfile.gettempdir()}") == 2
    assert f"kuchikomi-guard-egg-{os.getuid()}-{version}" in log
    # With this machine's politeness (the test's: no delay, no AutoThrottle), not the node's
    # defaults (the nodes were started without the test's settings).
    assert "scrapy.extensions.throttle.AutoThrottle" not in log
    assert "'DOWNLOAD_DELAY': 1.0" not in log
    reviews_on_scrapyd = _stored()
    estimated_on_scrapyd = _estimated_dates()
    assert on_scrapyd["classified"] == len(reviews_on_scrapyd) > 50

    # The same listings crawled here, from an empty database.
    _empty_tables()
    _register(portal)
    code, out, err = kuchikomi("crawl", "--all", "--format", "json")
    assert code == 0, err
    local = json.loads(out)
    assert _outcomes(on_scrapyd) == _outcomes(local)
    assert reviews_on_scrapyd == _stored()
    estimated_here = _estimated_dates()
    assert estimated_on_scrapyd.keys() == estimated_here.keys() and estimated_here
    for key, posted_at in estimated_here.items():
        assert abs(posted_at - estimated_on_scrapyd[key]) < timedelta(minutes=10)


@pytest.mark.slow  # two Scrapyd daemons, one crawl
def test_a_failed_scrapyd_job_fails_only_its_own_sites_listings(
    portal: str, scrapyd_nodes: list[str], node_that_cannot_crawl: str
) -> None:
    _register(portal)

    code, out, err = kuchikomi(
        "crawl",
        "--all",
        "--scrapyd",
        f"{scrapyd_nodes[0]},{node_that_cannot_crawl}",
        "--format",
        "json",
    )

    assert code == 1, err + out  # some listings failed
    report = json.loads(out)
    assert report["status"] == "partial"
    outcomes = {o["url"]: o for o in report["listings"]}
    # The larger site (three listings on 127.0.0.1) went to the working node and was crawled;
    # the other site's job failed on the broken node, and only its two listings with it.
    ok = sorted(url for url, o in outcomes.items() if o["status"] == "ok")
    failed = sorted(url for url, o in outcomes.items() if o["status"] == "failed")
    assert ok == sorted(url for url in outcomes if "//127.0.0.1:" in url) and len(ok) == 3
    assert failed == sorted(url for url in outcomes if "//localhost:" in url) and len(failed) == 2
    for url in failed:
        error = outcomes[url]["error"]
        assert error.startswith("Scrapyd job run") and "-schema_org-localhost-" in error
        assert f"on {node_that_cannot_crawl} ended without reporting on this listing" in error
    with new_session() as session:
        reviews_by_url = dict(
            session.execute(
                select(Listing.url, func.count(Review.id))
                .outerjoin(Review, Review.listing_id == Listing.id)
                .group_by(Listing.url)
            )
            .tuples()
            .all()
        )
    assert all(reviews_by_url[url] > 0 for url in ok)
    assert all(reviews_by_url[url] == 0 for url in failed)


@pytest.mark.slow
def test_scheduled_crawl_runs_on_the_configured_scrapyd_nodes(
    portal: str, scrapyd_nodes: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from kuchikomi_settings import get_settings
    from scheduler.jobs import nightly_crawl

    monkeypatch.setenv("KUCHIKOMI_CRAWL__SCRAPYD_URLS", ",".join(reversed(scrapyd_nodes)))
    get_settings.cache_clear()
    _localhost_profile(get_settings().data_dir)
    _register(portal)

    nightly_crawl()

    with new_session() as session:
        (run,) = session.scalars(select(CrawlRun))
        assert run.trigger == "scheduler" and run.status == "ok"
        assert run.stats["listings_ok"] == 5
        # Two sources of one site each: still one job per site, each on its own node.
        assert sorted((job["source"], job["site"]) for job in run.stats["scrapyd"]) == [
            ("local_portal", "localhost"),
            ("schema_org", "127.0.0.1"),
        ]
        assert sorted(job["node"] for job in run.stats["scrapyd"]) == sorted(scrapyd_nodes)
        assert session.query(Review).count() > 50


def test_unreachable_scrapyd_node_stops_the_crawl_before_anything_is_stored(
    env: Path,
) -> None:
    code, _out, err = kuchikomi("clinic", "add", "--name", "A", "--url", "https://example.jp/r")
    assert code == 0, err
    port = free_port()  # nothing listens there

    code, out, err = kuchikomi("crawl", "--all", "--scrapyd", f"http://127.0.0.1:{port}")

    assert code == 1
    assert f"Scrapyd at http://127.0.0.1:{port}" in err
    with new_session() as session:
        assert list(session.scalars(select(CrawlRun))) == []
