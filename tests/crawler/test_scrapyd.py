"""Crawl runs on real Scrapyd daemons (the PyPI ``scrapyd``, default settings, port and poll
interval aside).

Two nodes are started on 127.0.0.1 with working directories of their own (Scrapyd's defaults
but the port and the poll interval, which only delays a queued job's start); the demo portal is
served on 127.0.0.1 and, for a second site, reached as ``localhost`` through an operator site
profile, so a run has two sites and each node gets one. What the nodes store is compared with
what a local crawl of the same listings stores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from crawler.sites import SHIPPED_DIR
from kuchikomi.cli import app
from kuchikomi.demo.portal import DemoPortal, listing_urls, serve
from kuchikomi.services.scrapyd.egg import PROJECT, build_egg
from models import CrawlRun, Listing, Review
from models.db import new_session
from tests.conftest import _empty_tables
from tests.crawler.conftest import PORTAL_TODAY
from tests.live_app import free_port


def _start_scrapyd(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    directory.mkdir(parents=True)
    # Scrapyd reads ./scrapyd.conf; everything but these is its default. Its poller looks for
    # queued jobs every 5 s by default, seconds a test would only wait out at every job.
    (directory / "scrapyd.conf").write_text(f"[scrapyd]\nhttp_port = {port}\npoll_interval = 0.2\n")
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
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def portal(model_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("KUCHIKOMI_CRAWL__SCRAPYD_POLL_SECONDS", "0.5")
    from kuchikomi_settings import get_settings

    get_settings.cache_clear()
    # A second site: the same portal as "localhost", read by an operator profile of its own.
    sites = model_env / "sites"
    sites.mkdir(parents=True)
    profile = (SHIPPED_DIR / "schema_org.toml").read_text("utf-8")
    (sites / "local_portal.toml").write_text(
        profile.replace("hosts = []", 'hosts = ["localhost"]'), "utf-8"
    )
    with serve(DemoPortal(today=PORTAL_TODAY)) as base_url:
        yield base_url


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


@pytest.mark.slow  # two Scrapyd daemons, two crawls
def test_sharded_scrapyd_crawl_stores_what_a_local_crawl_stores(
    portal: str, scrapyd_nodes: list[str]
) -> None:
    _register(portal)
    with new_session() as session:
        sources = sorted({listing.source for listing in session.scalars(select(Listing))})
    assert sources == ["local_portal", "schema_org"]

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
    # One job per site, each on its own node, and each job's log kept with the run.
    with new_session() as session:
        run = session.get(CrawlRun, on_scrapyd["run_id"])
        assert run is not None
        jobs = run.stats["scrapyd"]
    assert sorted(job["source"] for job in jobs) == sources
    assert sorted(job["node"] for job in jobs) == sorted(scrapyd_nodes)
    assert {job["state"] for job in jobs} == {"finished"}
    log = Path(run.stats["log_path"]).read_text("utf-8")
    assert log.count("Spider closed (finished)") == 2
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


@pytest.mark.slow
def test_scheduled_crawl_runs_on_the_configured_scrapyd_nodes(
    portal: str, scrapyd_nodes: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from kuchikomi_settings import get_settings
    from scheduler.jobs import nightly_crawl

    monkeypatch.setenv("KUCHIKOMI_CRAWL__SCRAPYD_URLS", ",".join(reversed(scrapyd_nodes)))
    get_settings.cache_clear()
    _register(portal)

    nightly_crawl()

    with new_session() as session:
        (run,) = session.scalars(select(CrawlRun))
        assert run.trigger == "scheduler" and run.status == "ok"
        assert run.stats["listings_ok"] == 5
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
