"""The pipeline lock keeps two crawl runs from overlapping, across processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from kuchikomi.cli import app
from kuchikomi.services.locks import LockHeldError, job_lock
from kuchikomi.services.pipeline import PIPELINE_LOCK
from models import JobLock


def test_second_holder_is_refused_until_release(env: Path) -> None:
    with job_lock("x"):
        with pytest.raises(LockHeldError, match="already running"):
            with job_lock("x"):
                pass
    with job_lock("x"):  # released: can be taken again
        pass


def test_lock_left_by_a_dead_process_is_taken_over(session: Session) -> None:
    # A process that exited without releasing (killed mid-run) leaves its row behind.
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    import socket

    session.add(JobLock(name="x", owner=f"{socket.gethostname()}:{child.stdout.strip()}"))
    session.commit()
    with job_lock("x"):
        pass


def test_crawl_refuses_to_overlap_a_running_pipeline(session: Session) -> None:
    with job_lock(PIPELINE_LOCK):
        result = CliRunner().invoke(app, ["crawl", "--all"])
    assert result.exit_code == 1
    assert "already running" in result.stderr
