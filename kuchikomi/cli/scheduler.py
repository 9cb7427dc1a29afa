"""``kuchikomi scheduler``: the blocking scheduler process for the nightly crawl."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import typer

from kuchikomi.cli.common import fail, require_schema
from kuchikomi_settings import get_settings

app = typer.Typer(help="The nightly scheduler.", no_args_is_help=True)


@app.command("run")
def run(
    now: bool = typer.Option(
        False, "--now", help="Also crawl once right away, then follow the schedule."
    ),
) -> None:
    """Run the scheduler in the foreground; crawls nightly at the configured time.

    Configure with KUCHIKOMI_SCHEDULER__CRON (default "0 2 * * *") and
    KUCHIKOMI_SCHEDULER__TIMEZONE (default Asia/Tokyo). SIGTERM (systemd, Docker) or Ctrl-C
    stops it gracefully: a crawl in progress stores what it fetched and is recorded as
    interrupted (the next run fetches the rest), then the process exits 0.
    """
    from kuchikomi.services.crawl import StopRequested, sigterm_raises, stop_running_crawls
    from scheduler.jobs import build_scheduler, build_trigger

    require_schema()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = get_settings().scheduler
    try:
        scheduler = build_scheduler(run_now=now)
    except (ValueError, LookupError) as exc:  # bad cron fields, unknown time zone
        fail(f"invalid schedule {settings.cron!r} / {settings.timezone!r}: {exc}")
    next_run = build_trigger().get_next_fire_time(None, datetime.now(UTC))
    typer.echo(
        f"scheduler started: cron {settings.cron!r} in {settings.timezone}; "
        f"{'first crawl now, then ' if now else ''}"
        f"next crawl {next_run.isoformat() if next_run else 'never'}; Ctrl-C to stop",
        err=True,
    )
    # The job runs in a worker thread; a signal reaches this (main) thread only, which then
    # stops the crawl and waits for the job to record it, a second SIGTERM being ignored.
    with sigterm_raises():
        try:
            scheduler.start()
        except (KeyboardInterrupt, StopRequested):
            if stop_running_crawls():
                typer.echo("stopping: the crawl in progress stores what it fetched", err=True)
            scheduler.shutdown(wait=True)
    typer.echo("scheduler stopped", err=True)
