"""Named locks in the database, so that two crawl pipelines never run at once.

The scheduler's ``max_instances=1`` only guards one scheduler process; a cron job, a second
scheduler or an operator's manual ``kuchikomi crawl`` must be kept out too, possibly from another
machine, so the lock lives in the shared database.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError

from kuchikomi.errors import Conflict
from models import JobLock
from models.base import utcnow
from models.db import new_session

# A lock older than this is taken to be left behind by a crashed process on another machine.
STALE_AFTER = timedelta(hours=12)


class LockHeldError(Conflict):
    """Another process holds the named lock: the job runs already."""

    message_ja = "同じ処理が実行中です。終わってから、もう一度お試しください。"

    def __init__(self, name: str, owner: str, since: str) -> None:
        super().__init__(f"{name} is already running (held by {owner} since {since})")
        self.owner = owner


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_stale(lock: JobLock) -> bool:
    if utcnow() - lock.acquired_at > STALE_AFTER:
        return True
    host, _, pid = lock.owner.rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and not _pid_alive(int(pid))


@contextmanager
def job_lock(name: str) -> Iterator[None]:
    """Hold the named lock for the duration of the block, or raise :class:`LockHeldError`."""
    owner = _owner()
    with new_session() as session:
        existing = session.get(JobLock, name)
        if existing is not None and _is_stale(existing):
            session.execute(
                delete(JobLock).where(JobLock.name == name, JobLock.owner == existing.owner)
            )
            session.commit()
            existing = None
        if existing is not None:
            raise LockHeldError(name, existing.owner, existing.acquired_at.isoformat())
        try:
            # A Core insert: another process may win the race between the read and this write.
            session.execute(insert(JobLock).values(name=name, owner=owner, acquired_at=utcnow()))
            session.commit()
        except IntegrityError:
            session.rollback()
            holder = session.get(JobLock, name)
            raise LockHeldError(
                name,
                holder.owner if holder else "another process",
                holder.acquired_at.isoformat() if holder else "just now",
            ) from None
    try:
        yield
    finally:
        with new_session() as session:
            session.execute(delete(JobLock).where(JobLock.name == name, JobLock.owner == owner))
            session.commit()
