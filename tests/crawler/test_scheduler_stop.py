"""Stopping the scheduler service (systemd and Docker send SIGTERM) mid-crawl loses nothing.

The scheduler runs its crawl job in a worker thread, where no signal arrives: the main thread
stops the crawl, waits for the job to record the run, and exits 0. Before, SIGTERM killed the
scheduler at once, its crawler went with it, and the run stayed ``running`` until the next start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from kuchikomi.services.crawl import run_crawl
from models import CrawlRun, CrawlRunListing
from tests.crawler.test_recovery import (  # noqa: F401 - grown_site is a fixture
    _alive,
    _answer_at_once,
    _children,
    _stored_ids,
    _wait_until,
    grown_site,
)


def test_sigterm_stops_the_scheduler_and_its_crawl_gracefully(
    session: Session,
    env: Path,
    grown_site: dict[str, object],  # noqa: F811 - the fixture imported above
) -> None:
    kuchikomi = Path(sys.executable).with_name("kuchikomi")
    scheduler = subprocess.Popen(
        [str(kuchikomi), "scheduler", "run", "--now"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        cwd=env.parent,
    )
    crawler = None
    try:
        _wait_until(lambda: len(_stored_ids(session)) > 9, 90, "the first new page to be stored")
        (crawler,) = _children(scheduler.pid)
        os.kill(scheduler.pid, signal.SIGTERM)  # the main process only, as Docker does
        _, err = scheduler.communicate(timeout=60)
        _wait_until(lambda: not _alive(crawler), 5, "the crawler process to end")
    finally:
        if scheduler.poll() is None:
            os.killpg(scheduler.pid, signal.SIGKILL)
        if crawler is not None and _alive(crawler):
            os.kill(crawler, signal.SIGKILL)
    assert scheduler.returncode == 0, err.decode()
    assert "scheduler stopped" in err.decode()

    session.rollback()
    run = session.scalars(select(CrawlRun).order_by(CrawlRun.id.desc())).first()
    assert run is not None and run.trigger == "scheduler"
    assert run.status == "interrupted" and run.finished_at is not None
    row = session.scalars(select(CrawlRunListing).where(CrawlRunListing.run_id == run.id)).one()
    assert row.failure_kind == "interrupted"
    assert 9 < len(_stored_ids(session)) < 21

    # The next run fetches the rest.
    _answer_at_once(grown_site)
    summary = run_crawl(listing_ids=None)
    assert summary.ok and _stored_ids(session) == {f"#rv-{n}" for n in range(1, 22)}
