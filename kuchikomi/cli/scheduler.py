"""``kuchikomi scheduler``: the blocking scheduler process for the nightly crawl."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import typer

from kuchikomi.cli.common import fail, require_schema
from kuchikomi_settings import get_settings

app = typer.Typer(help="The nightly scheduler.", no_args_is_help=True)


@app.command("run")
def run() -> None:
    """Run the scheduler in the foreground (Ctrl-C stops it); crawls nightly at the configured time.

    Configure with KUCHIKOMI_SCHEDULER__CRON (default "0 2 * * *") and
    KUCHIKOMI_SCHEDULER__TIMEZONE (default Asia/Tokyo).
    """
    from scheduler.jobs import build_scheduler, build_trigger

    require_schema()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = get_settings().scheduler
    try:
        scheduler = build_scheduler()
    except (ValueError, LookupError) as exc:  # bad cron fields, unknown time zone
        fail(f"invalid schedule {settings.cron!r} / {settings.timezone!r}: {exc}")
    next_run = build_trigger().get_next_fire_time(None, datetime.now(UTC))
    typer.echo(
        f"scheduler started: cron {settings.cron!r} in {settings.timezone}; "
        f"next crawl {next_run.isoformat() if next_run else 'never'}; Ctrl-C to stop",
        err=True,
    )
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        typer.echo("scheduler stopped", err=True)
