"""The nightly job: kept in the project's database, fixed id, never duplicated or overlapping."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import create_engine, inspect

from kuchikomi_settings import get_settings
from scheduler.jobs import JOB_ID, JOBSTORE_TABLE, build_trigger, configure


def _started(paused: bool = True) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone="Asia/Tokyo")
    configure(scheduler)
    scheduler.start(paused=paused)
    return scheduler


def test_job_is_stored_in_the_database_with_overlap_protection(env: Path, db_url: str) -> None:
    scheduler = _started()
    try:
        job = scheduler.get_job(JOB_ID)
        assert job is not None
        assert job.max_instances == 1
        assert job.coalesce is True
        assert job.misfire_grace_time == get_settings().scheduler.misfire_grace_seconds
        next_run = job.next_run_time.astimezone(ZoneInfo("Asia/Tokyo"))
        assert (next_run.hour, next_run.minute) == (2, 0)
    finally:
        scheduler.shutdown(wait=False)
    engine = create_engine(db_url)
    try:
        assert JOBSTORE_TABLE in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_restarting_the_scheduler_keeps_one_job(env: Path) -> None:
    for _ in range(2):
        scheduler = _started()
        scheduler.shutdown(wait=False)
    scheduler = _started()
    try:
        assert [job.id for job in scheduler.get_jobs()] == [JOB_ID]
    finally:
        scheduler.shutdown(wait=False)


def test_schedule_is_configurable(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUCHIKOMI_SCHEDULER__CRON", "30 4 * * 1")
    monkeypatch.setenv("KUCHIKOMI_SCHEDULER__TIMEZONE", "UTC")
    get_settings.cache_clear()
    fire = build_trigger().get_next_fire_time(None, datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    assert fire == datetime(2026, 11, 30, 4, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cron", "expected_day"),
    [("0 3 * * 0", 29), ("0 3 * * 7", 29), ("0 3 * * 5", 27), ("0 3 * * 2-3", 24)],
)
def test_weekdays_follow_crontab_numbering(
    env: Path, monkeypatch: pytest.MonkeyPatch, cron: str, expected_day: int
) -> None:
    # 2026-11-23 is a Monday; in crontab 0 and 7 are Sunday, 5 is Friday.
    monkeypatch.setenv("KUCHIKOMI_SCHEDULER__CRON", cron)
    monkeypatch.setenv("KUCHIKOMI_SCHEDULER__TIMEZONE", "UTC")
    get_settings.cache_clear()
    fire = build_trigger().get_next_fire_time(None, datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    assert fire == datetime(2026, 11, expected_day, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("setting", "now", "full"),
    [
        # 2025-06-01 is a Sunday in Tokyo (it is still Saturday in UTC at 16:00).
        ("sun", datetime(2025, 5, 31, 17, 0, tzinfo=UTC), True),
        ("sun", datetime(2025, 5, 31, 14, 0, tzinfo=UTC), False),
        ("0", datetime(2025, 5, 31, 17, 0, tzinfo=UTC), True),
        ("7", datetime(2025, 5, 31, 17, 0, tzinfo=UTC), True),
        ("wed", datetime(2025, 6, 4, 1, 0, tzinfo=UTC), True),
        ("", datetime(2025, 5, 31, 17, 0, tzinfo=UTC), False),
    ],
)
def test_weekly_full_sweep_day(
    env: Path, monkeypatch: pytest.MonkeyPatch, setting: str, now: datetime, full: bool
) -> None:
    from scheduler.jobs import is_full_sweep_day

    monkeypatch.setenv("KUCHIKOMI_SCHEDULER__FULL_SWEEP_WEEKDAY", setting)
    get_settings.cache_clear()
    assert is_full_sweep_day(now) is full


def test_nightly_job_runs_a_full_sweep_once_a_week(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kuchikomi.services import pipeline
    from kuchikomi.services.locks import LockHeldError
    from scheduler import jobs

    calls: list[bool] = []

    def fake_pipeline(**kwargs: object) -> object:
        calls.append(bool(kwargs.get("full")))
        raise LockHeldError("crawl", "test", "now")  # ends the job right after the call

    monkeypatch.setattr(pipeline, "run_pipeline", fake_pipeline)
    for sweep_day in (True, False):
        monkeypatch.setattr(jobs, "is_full_sweep_day", lambda sweep_day=sweep_day: sweep_day)
        jobs.nightly_crawl()
    assert calls == [True, False]


def test_bad_full_sweep_day_is_refused(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from scheduler.jobs import is_full_sweep_day

    monkeypatch.setenv("KUCHIKOMI_SCHEDULER__FULL_SWEEP_WEEKDAY", "someday")
    get_settings.cache_clear()
    with pytest.raises(ValueError, match="full_sweep_weekday"):
        is_full_sweep_day()
