"""The scheduler process: one fixed job that runs the same pipeline as ``kuchikomi crawl --all``.

Choices, each for a reason:
- the job store is the project's own database (SQLAlchemyJobStore), so the next run time survives
  restarts and an operator can see it;
- a fixed job id with ``replace_existing`` means restarting the scheduler never duplicates the job;
- ``coalesce`` + ``misfire_grace_time``: after downtime, missed nights collapse into one run;
- ``max_instances=1`` stops overlap inside this process, and the pipeline's database lock stops
  overlap with cron jobs, manual runs and other schedulers.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from kuchikomi_settings import get_settings

log = logging.getLogger(__name__)

JOB_ID = "nightly-crawl"
JOBSTORE_TABLE = "scheduler_jobs"


def is_full_sweep_day(now: datetime | None = None) -> bool:
    """Whether today (in the scheduler's time zone) is the weekly full sweep's day."""
    settings = get_settings().scheduler
    day = settings.full_sweep_weekday.strip().lower()
    if not day:
        return False
    if day.isdigit():
        if int(day) > 7:
            raise ValueError(f"full_sweep_weekday must be sun..sat or 0-7, not {day!r}")
        day = _DAY_NAMES[int(day)]
    if day[:3] not in _DAY_NAMES:
        raise ValueError(f"full_sweep_weekday must be sun..sat or 0-7, not {day!r}")
    local = (now or datetime.now(UTC)).astimezone(ZoneInfo(settings.timezone))
    # datetime.weekday(): Monday = 0; _DAY_NAMES starts on Sunday.
    return _DAY_NAMES[(local.weekday() + 1) % 7] == day[:3]


def nightly_crawl() -> None:
    """The scheduled job: crawl every listing, classify, detect bursts; log the outcome.

    Once a week (``full_sweep_weekday``) the crawl is full: incremental nights stop at the first
    known page, so only a full sweep notices reviews taken down further back.
    """
    from kuchikomi.services.locks import LockHeldError
    from kuchikomi.services.pipeline import run_pipeline
    from kuchikomi.services.scrapyd.client import ScrapydError

    full = is_full_sweep_day()
    if full:
        log.info("weekly full sweep: every page of every listing")
    try:
        result = run_pipeline(listing_ids=None, trigger="scheduler", full=full)
    except LockHeldError as exc:
        log.warning("nightly crawl skipped: %s", exc)
        return
    except ScrapydError as exc:  # KUCHIKOMI_CRAWL__SCRAPYD_URLS names a node that is not there
        log.error("nightly crawl not started: %s", exc)
        return
    failed = [o for o in result.crawl.listings if o.status != "ok"]
    log.info(
        "nightly crawl run %s: %d listings, %d failed, %d reviews classified, %d bursts",
        result.crawl.run_id,
        len(result.crawl.listings),
        len(failed),
        result.classified,
        len(result.bursts),
    )
    for outcome in failed:
        log.error("listing %s (%s) failed: %s", outcome.listing_id, outcome.url, outcome.error)


_DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _crontab_day_of_week(field: str) -> str:
    """Translate crontab day numbers (0 or 7 = Sunday) to names.

    APScheduler 3 numbers days from Monday = 0, so "1" would silently mean Tuesday; operators
    write standard crontab, so numbers are turned into unambiguous names first.
    """
    parts = []
    for part in field.split(","):
        span, slash, step = part.partition("/")
        days = [_DAY_NAMES[int(d)] if d.isdigit() and int(d) <= 7 else d for d in span.split("-")]
        parts.append("-".join(days) + slash + step)
    return ",".join(parts)


def build_trigger() -> CronTrigger:
    """The crawl schedule from settings: a standard five-field crontab in the configured zone."""
    settings = get_settings().scheduler
    fields = settings.cron.split()
    if len(fields) != 5:
        raise ValueError(
            f"expected 5 crontab fields (min hour day month weekday), got {settings.cron!r}"
        )
    minute, hour, day, month, day_of_week = fields
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_crontab_day_of_week(day_of_week),
        timezone=settings.timezone,
    )


def configure(scheduler: BaseScheduler, *, run_now: bool = False) -> None:
    """Add the job store and the one job to a scheduler (blocking in production).

    ``run_now`` runs the crawl once as soon as the scheduler starts; the schedule then goes on.
    """
    settings = get_settings()
    scheduler.add_jobstore(
        SQLAlchemyJobStore(url=settings.database_url, tablename=JOBSTORE_TABLE), "default"
    )
    scheduler.add_job(
        nightly_crawl,
        trigger=build_trigger(),
        id=JOB_ID,
        name="nightly crawl → classify → bursts",
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=settings.scheduler.misfire_grace_seconds,
        **({"next_run_time": datetime.now(UTC)} if run_now else {}),
    )


def build_scheduler(*, run_now: bool = False) -> BlockingScheduler:
    scheduler = BlockingScheduler(timezone=get_settings().scheduler.timezone)
    configure(scheduler, run_now=run_now)
    return scheduler
