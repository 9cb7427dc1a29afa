"""How fast ``kuchikomi crawl --all`` runs end to end, against Scrapy's own ``scrapy bench``.

Serves a local review portal of 200 listings on 127.0.0.1 (the demo portal's five clinics, each
repeated 40 times; pages rendered once, before timing), spread over 16 loopback addresses
(127.0.0.1 … 127.0.0.16): the crawler visits each site one request at a time, as its politeness
rule says, so 16 sites give it the 16 concurrent requests ``scrapy bench`` uses. Then, in the same
run:

- ``scrapy bench`` (Scrapy's own baseline: a local server and a spider following links for 10 s),
  as a subprocess; its pages/min is its responses over its elapsed time;
- ``kuchikomi crawl --all`` as an operator runs it, against a fresh SQLite database (migrations
  applied and the model trained before timing), politeness delay 0 and AutoThrottle off: pages
  fetched (every response, robots.txt included) over the wall time of the whole command, which
  includes classifying the new reviews and detecting bursts.

Prints both rates, the ratio (the goal is at least 0.7), the crawl phase alone, the time spent
classifying after the crawl (from the crawl's end to the last review classified; negative when
the last review was classified while the crawl ran), and the CPU time of the command with its
crawler process, with the load average.

    .venv/bin/python bench/crawl_speed.py
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

LISTINGS = 200
SITES = 16
GOAL = 0.7


def _portal_pages(hosts: list[str]) -> tuple[dict[tuple[str, str], bytes], list[tuple[str, str]]]:
    """Every page of the scaled portal, by (host, path), and (clinic name, listing URL)."""
    from kuchikomi.demo.portal import ROBOTS_TXT, DemoPortal, _Renderer

    base = DemoPortal()
    clinics = [
        replace(clinic, id=n, name=f"{clinic.name} {n}号院")
        for n, clinic in enumerate(
            (base.clinics[i % len(base.clinics)] for i in range(LISTINGS)), start=1
        )
    ]
    portal = DemoPortal(today=base.today, clinics=clinics, page_size=base.page_size)
    pages: dict[tuple[str, str], bytes] = {}
    listings = []
    for index, clinic in enumerate(clinics):
        host = hosts[index % len(hosts)]
        renderer = _Renderer(portal, f"http://{host}")
        pages[(host, "/robots.txt")] = ROBOTS_TXT.encode()
        for number in range(1, portal.page_count(clinic) + 1):
            path = clinic.listing_path + ("" if number == 1 else f"?page={number}")
            body = renderer.listing(clinic, number)
            assert body is not None
            pages[(host, path)] = body.encode("utf-8")
        for review in clinic.reviews:
            body = renderer.detail(clinic, review.id)
            assert body is not None
            pages[(host, f"{clinic.listing_path}/{review.id}")] = body.encode("utf-8")
        listings.append((clinic.name, f"http://{host}{clinic.listing_path}"))
    return pages, listings


@contextmanager
def _serving(pages: dict[tuple[str, str], bytes], address: str, port: int) -> Iterator[None]:
    from kuchikomi.demo.serving import serve_handler

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            body = pages.get((self.headers.get("Host") or "", self.path))
            status = HTTPStatus.OK if body is not None else HTTPStatus.NOT_FOUND
            body = body if body is not None else "ページが見つかりません".encode()
            self.send_response(status)
            kind = "text/plain" if self.path == "/robots.txt" else "text/html"
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    with serve_handler(Handler, host=address, port=port, name=f"portal-{address}"):
        yield


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrapy_bench() -> float:
    """Pages per minute of ``scrapy bench`` (its responses over its elapsed time)."""
    scrapy = Path(sys.executable).with_name("scrapy")
    result = subprocess.run(
        [str(scrapy), "bench"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),
    )
    log = result.stderr
    responses = re.search(r"'downloader/response_count': (\d+)", log)
    elapsed = re.search(r"'elapsed_time_seconds': ([\d.]+)", log)
    if responses is None or elapsed is None:
        raise RuntimeError(f"scrapy bench printed no stats:\n{log[-2000:]}")
    return int(responses.group(1)) / float(elapsed.group(1)) * 60


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="kuchikomi-crawl-bench-"))
    env = {
        **os.environ,
        "KUCHIKOMI_DATABASE_URL": f"sqlite:///{work / 'bench.db'}",
        "KUCHIKOMI_DATA_DIR": str(work / "data"),
        "KUCHIKOMI_ALLOW_PRIVATE_HOSTS": "true",
        "KUCHIKOMI_CRAWL__DOWNLOAD_DELAY": "0",
        "KUCHIKOMI_CRAWL__AUTOTHROTTLE": "false",
    }
    os.environ.update(env)
    kuchikomi = str(Path(sys.executable).with_name("kuchikomi"))
    try:
        hosts_by_address = {f"127.0.0.{n}": _free_port() for n in range(1, SITES + 1)}
        hosts = [f"{address}:{port}" for address, port in hosts_by_address.items()]
        pages, listings = _portal_pages(hosts)
        with ExitStack() as stack:
            for address, port in hosts_by_address.items():
                stack.enter_context(_serving(pages, address, port))
            subprocess.run([kuchikomi, "db", "upgrade"], env=env, check=True, capture_output=True)
            subprocess.run([kuchikomi, "model", "train"], env=env, check=True, capture_output=True)
            from kuchikomi.services.clinics import register_clinic
            from models.db import session_scope

            with session_scope() as session:
                for name, url in listings:
                    register_clinic(session=session, name=name, urls=[url])

            baseline = scrapy_bench()
            command_started = datetime.now(UTC)
            started = time.perf_counter()
            cpu_before = _children_cpu()
            crawl = subprocess.run(
                [kuchikomi, "crawl", "--all"], env=env, capture_output=True, text=True
            )
            wall = time.perf_counter() - started
            cpu = _children_cpu() - cpu_before
            if crawl.returncode != 0:
                print(crawl.stdout, crawl.stderr, file=sys.stderr)
                return 1
        command_ended = command_started + timedelta(seconds=wall)
        crawled, crawl_seconds, classifying, reviews, marks = _run_figures()
        run_started, last_classified = marks
        rate = crawled / wall * 60
        print(f"site: {LISTINGS} listings on {SITES} local sites, {len(pages)} pages served")
        print(f"scrapy bench:                {baseline:8.0f} pages/min")
        print(
            f"kuchikomi crawl --all:       {rate:8.0f} pages/min "
            f"({crawled} pages, {reviews} reviews, {wall:.1f} s end to end)"
        )
        print(f"  crawl phase alone:         {crawled / crawl_seconds * 60:8.0f} pages/min")
        print(f"  start-up before the crawl run: {_seconds(command_started, run_started):.1f} s")
        print(f"  classifying after the crawl: {classifying:.1f} s")
        if last_classified is not None:
            print(
                "  after classifying (bursts, removals, notifications): "
                f"{_seconds(last_classified, command_ended):.1f} s"
            )
        print(
            f"  CPU of the command and its crawler: {cpu:.1f} s; load average "
            + " ".join(f"{x:.2f}" for x in os.getloadavg())
        )
        ratio = rate / baseline
        verdict = "met" if ratio >= GOAL else "NOT met"
        print(f"ratio: {ratio:.2f}× scrapy bench (goal ≥ {GOAL}×): {verdict}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _children_cpu() -> float:
    """CPU seconds (user + system) of the ended child processes and their ended children: on
    this shared machine the wall clock says as much about the other load as about the crawl."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _seconds(start: datetime, end: datetime) -> float:
    return (end.replace(tzinfo=None) - start.replace(tzinfo=None)).total_seconds()


def _run_figures() -> tuple[int, float, float, int, tuple[datetime, datetime | None]]:
    """Pages fetched, the crawl phase's seconds, seconds classifying after it, reviews stored,
    and when the run started and the last review was classified (UTC)."""
    from sqlalchemy import func, select

    from models import Classification, CrawlRun, Review
    from models.db import session_scope

    with session_scope() as session:
        run = session.scalars(select(CrawlRun).order_by(CrawlRun.id.desc())).first()
        assert run is not None and run.finished_at is not None
        scrapy_stats = (run.stats or {}).get("scrapy", {})
        crawled = int(scrapy_stats.get("downloader/response_count", 0))
        last_classified = session.scalar(select(func.max(Classification.classified_at)))
        reviews = session.scalar(select(func.count(Review.id))) or 0
        started, finished = run.started_at, run.finished_at
        classifying = (
            (last_classified.replace(tzinfo=None) - finished.replace(tzinfo=None)).total_seconds()
            if last_classified is not None
            else 0.0
        )
        return (
            crawled,
            (finished - started).total_seconds(),
            classifying,
            reviews,
            (started, last_classified),
        )


if __name__ == "__main__":
    sys.exit(main())
