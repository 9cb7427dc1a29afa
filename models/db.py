"""One engine per process and a session factory; SQLite gets foreign keys and WAL.

The engine is created lazily from settings so that tests can point it elsewhere and call
:func:`reset_engine`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from kuchikomi_settings import get_settings


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # The crawler process and the CLI write to the same file; wait rather than fail on a lock.
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# Connections per process. An API worker runs sync routes (and streamed bodies) on a thread pool
# of 40 (anyio's default), each holding at most one connection at a time, so a pool of 40 never
# makes a request wait for a connection; 10 stay open between bursts. With N workers the database
# sees up to 40 × N connections (docs/operations.md#api-workers).
POOL_SIZE = 10
POOL_MAX_OVERFLOW = 30


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    kwargs: dict[str, Any] = {
        "pool_pre_ping": True,
        "pool_size": POOL_SIZE,
        "max_overflow": POOL_MAX_OVERFLOW,
    }
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        else:
            # An in-memory database lives in one connection (SingletonThreadPool): no sizes.
            del kwargs["pool_size"], kwargs["max_overflow"]
        kwargs["connect_args"] = {"timeout": 30}
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def optimize_planner(engine: Engine, *, full: bool = False) -> None:
    """Give the query planner current statistics (after bulk changes, at start-up).

    SQLite keeps none until ``ANALYZE`` runs, and then picks poor indexes on large tables (a
    clinic's queue by the probability index instead of by the clinic's listings: 12× slower at a
    million reviews). So a database without statistics gets a full ``ANALYZE`` (seconds, once);
    one with statistics gets ``PRAGMA optimize``, which refreshes them only where they are stale.
    (A sampled ``ANALYZE`` is no substitute: with ``analysis_limit`` the per-listing estimate
    became the sample size and the clinic filter went back to the slow plan.) ``full`` forces a
    complete ``ANALYZE`` on either database; PostgreSQL's autovacuum otherwise keeps its own.
    docs/operations.md#query-planner
    """
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            analyzed = conn.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"
            ).first()
            conn.exec_driver_sql("ANALYZE" if full or not analyzed else "PRAGMA optimize")
        elif full:
            conn.exec_driver_sql("ANALYZE")
        conn.commit()


@lru_cache
def get_engine() -> Engine:
    return make_engine(get_settings().database_url)


@lru_cache
def _session_factory() -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


def new_session() -> Session:
    return _session_factory()()


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on any error."""
    session = new_session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def close_read_session(session: Session, *, failed: bool) -> None:
    """Close a session whose work was not committed, as a rollback would, but keep PostgreSQL's
    plans: end its transaction with COMMIT when it wrote nothing.

    psycopg forgets every statement it prepared at each ROLLBACK, so a session per request that
    ends in rollback never reuses a plan, and PostgreSQL planned the review page's query at every
    request (1.8 -> 0.7 ms of the server's CPU per queue request at a million reviews). A
    transaction that was given no transaction id wrote nothing and locked no row, so COMMIT ends
    it exactly as ROLLBACK would. Anything else (an error, pending ORM changes, a write) is rolled
    back as before.
    """
    try:
        if not failed and _wrote_nothing(session):
            session.commit()
    finally:
        session.close()


def _wrote_nothing(session: Session) -> bool:
    transaction = session.get_transaction()
    if (
        transaction is None
        or not transaction.is_active
        or session.get_bind().dialect.name != "postgresql"
        or session.new
        or session.dirty
        or session.deleted
    ):
        return False
    try:
        unassigned = session.connection().exec_driver_sql(
            "SELECT pg_current_xact_id_if_assigned() IS NULL"
        )
        return bool(unassigned.scalar())
    except DBAPIError:
        # The transaction had already failed (a statement refused, the route went on).
        return False


def reset_engine() -> None:
    """Forget the cached engine (after settings changed, or in a forked process)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_engine.cache_clear()
    _session_factory.cache_clear()
