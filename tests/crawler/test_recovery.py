"""A killed or stopped ``kuchikomi crawl`` loses no review (docs/operations.md#crawl-run-recovery).

The crawl runs as the operator runs it: the CLI as a process of its own, which starts the Scrapy
process, against a slow site served on 127.0.0.1, and is killed or stopped mid-crawl.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kuchikomi.services.crawl import run_crawl
from models import CrawlRun, CrawlRunListing, EvidenceRecord, Review
from tests.crawler.conftest import FixtureSite, listing, register

PER_PAGE = 3
# Each listing page takes this long to answer, so that a kill lands between two pages.
PAGE_DELAY = 1.0
PATH = "/clinic/7"


def _page_path(number: int) -> str:
    return PATH if number == 1 else f"{PATH}?p={number}"


def _publish(site: FixtureSite, newest: int, *, delay: float = 0.0) -> dict[str, set[str]]:
    """Reviews #rv-1 … #rv-NEWEST, newest first, PER_PAGE a page; returns page URL → ids."""
    numbers = list(range(newest, 0, -1))
    pages = [numbers[i : i + PER_PAGE] for i in range(0, len(numbers), PER_PAGE)]
    shown: dict[str, set[str]] = {}
    for index, on_page in enumerate(pages, start=1):
        data = {
            "@context": "https://schema.org",
            "@type": "MedicalClinic",
            "name": "回復テスト医院",
            "review": [
                {
                    "@type": "Review",
                    "@id": f"#rv-{n}",
                    "author": f"患者{n}",
                    "reviewRating": {"ratingValue": 3},
                    "datePublished": (date(2025, 1, 1) + timedelta(days=n)).isoformat(),
                    "reviewBody": f"{n}件目の口コミです。待ち時間は普通でした。",
                }
                for n in on_page
            ],
        }
        link = f'<a href="{_page_path(index + 1)}">次へ</a>' if index < len(pages) else ""
        body = (
            f'<html><head><script type="application/ld+json">{json.dumps(data)}</script>'
            f"</head><body>{link}</body></html>"
        )
        url = site.add(_page_path(index), body, delay=delay)
        shown[url] = {f"#rv-{n}" for n in on_page}
    return shown


def _stored_ids(session: Session) -> set[str]:
    session.rollback()  # the crawl processes have committed since
    return set(session.scalars(select(Review.external_id)))


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # "pid (comm) state ppid …": comm may hold spaces, so split after its ")".
            fields = stat.rpartition(")")[2].split()
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended, whoever reaps it


def _wait_until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def grown_site(session: Session, env: Path, site: FixtureSite) -> Iterator[dict[str, object]]:
    """A listing crawled in full (9 reviews), then grown by four pages (12 newer reviews), slow."""
    pytest.importorskip("ctypes")
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc to find the crawler process")
    first = _publish(site, 9)
    (listing_id,) = register(session, "回復テスト医院", next(iter(first)))
    assert run_crawl(listing_ids=None).ok
    assert len(_stored_ids(session)) == 9
    pages = _publish(site, 21, delay=PAGE_DELAY)
    yield {"listing_id": listing_id, "pages": pages, "site": site}


def _answer_at_once(grown: dict[str, object]) -> None:
    """The slow pages were only slow so that the kill or stop lands mid-crawl; the crawl that
    follows it need not wait them out again."""
    site: FixtureSite = grown["site"]  # type: ignore[assignment]
    for route in site.routes.values():
        route.delay = 0.0


def _start_cli_crawl(data_dir: Path) -> subprocess.Popen[bytes]:
    """``kuchikomi crawl --all`` in a process group of its own, as a shell or cron starts it."""
    kuchikomi = Path(sys.executable).with_name("kuchikomi")
    return subprocess.Popen(
        [str(kuchikomi), "crawl", "--all"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        cwd=data_dir.parent,
    )


def _crawl_until_a_new_page_is_stored(
    session: Session, data_dir: Path
) -> tuple[subprocess.Popen[bytes], int, set[str]]:
    parent = _start_cli_crawl(data_dir)
    try:
        _wait_until(lambda: len(_stored_ids(session)) > 9, 60, "the first new page to be stored")
    except AssertionError:
        parent.kill()
        out, err = parent.communicate()
        raise AssertionError(err.decode(errors="replace")) from None
    (crawler,) = _children(parent.pid)
    return parent, crawler, _stored_ids(session)


@pytest.mark.parametrize("whom", ["process group", "parent only"])
def test_killing_the_crawl_loses_no_review(
    session: Session, env: Path, grown_site: dict[str, object], whom: str
) -> None:
    listing_id = grown_site["listing_id"]
    parent, crawler, stored_at_kill = _crawl_until_a_new_page_is_stored(session, env)
    try:
        if whom == "process group":  # kill -9 -- -PGID
            os.killpg(parent.pid, signal.SIGKILL)
        else:  # the parent alone (kill -9 PID, an OOM kill): nothing of it runs any more
            os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        # Its crawler goes with it at once, rather than crawling on beside the next run.
        _wait_until(lambda: not _alive(crawler), 5, "the crawler process to end")
    finally:
        if _alive(crawler):
            os.kill(crawler, signal.SIGKILL)
    stored = _stored_ids(session)
    assert 9 < len(stored) < 21, "the kill must land mid-crawl"
    assert stored >= stored_at_kill
    (killed,) = session.scalars(select(CrawlRun).where(CrawlRun.status == "running"))
    _answer_at_once(grown_site)

    # The next plain crawl records the killed run as interrupted and fetches every review the
    # killed one never reached, though the newest pages are already stored.
    summary = run_crawl(listing_ids=None)

    assert summary.ok, [o.error for o in summary.listings]
    assert _stored_ids(session) == {f"#rv-{n}" for n in range(1, 22)}
    session.expire_all()
    assert session.get(CrawlRun, killed.id).status == "interrupted"  # type: ignore[union-attr]
    row = session.scalars(select(CrawlRunListing).where(CrawlRunListing.run_id == killed.id)).one()
    assert row.status == "failed" and "interrupted" in (row.error or "")
    # The killed run's listing was never reported ok; only the finished run made it ok again.
    assert listing(session, listing_id).last_crawl_status == "ok"  # type: ignore[arg-type]
    # Still incremental: the crawl stopped at the first page the first crawl had read.
    (outcome,) = summary.listings
    assert outcome.pages == 5 and not outcome.complete


def test_sigterm_stops_the_crawl_gracefully(
    session: Session, env: Path, grown_site: dict[str, object]
) -> None:
    listing_id = grown_site["listing_id"]
    pages: dict[str, set[str]] = grown_site["pages"]  # type: ignore[assignment]
    parent, crawler, stored_at_signal = _crawl_until_a_new_page_is_stored(session, env)
    try:
        # As Docker stops a container: SIGTERM to the main process only.
        os.kill(parent.pid, signal.SIGTERM)
        _, err = parent.communicate(timeout=60)
        _wait_until(lambda: not _alive(crawler), 5, "the crawler process to end")
    finally:
        if parent.poll() is None:
            parent.kill()
        if _alive(crawler):
            os.kill(crawler, signal.SIGKILL)
    assert parent.returncode == 1
    assert "interrupted" in err.decode()

    # Recorded at once, without waiting for the next run.
    session.rollback()
    run = session.scalars(select(CrawlRun).order_by(CrawlRun.id.desc())).first()
    assert run is not None and run.status == "interrupted" and run.finished_at is not None
    row = session.scalars(select(CrawlRunListing).where(CrawlRunListing.run_id == run.id)).one()
    assert row.status == "failed" and row.failure_kind == "interrupted"
    assert listing(session, listing_id).last_crawl_status == "failed"  # type: ignore[arg-type]
    # Every page it fetched (archived) is stored, not only those stored before the signal.
    stored = _stored_ids(session)
    assert stored_at_signal <= stored and len(stored) < 21
    fetched = set(
        session.scalars(
            select(EvidenceRecord.url).where(
                EvidenceRecord.run_id == run.id, EvidenceRecord.url.in_(list(pages))
            )
        )
    )
    assert fetched
    for url in fetched:
        assert pages[url] <= stored, url
    # A stop is no fault of the site: crawl health is not touched.
    assert listing(session, listing_id).health_status == "ok"  # type: ignore[arg-type]

    _answer_at_once(grown_site)
    summary = run_crawl(listing_ids=None)
    assert summary.ok and _stored_ids(session) == {f"#rv-{n}" for n in range(1, 22)}
    assert session.scalar(select(func.count()).select_from(Review)) == 21
