"""An API request's session: what the route did not commit is discarded, and on PostgreSQL a
request that only read keeps the statements psycopg prepared (see models.db.close_read_session)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from models import Clinic
from models.db import close_read_session, make_engine, new_session


def _clinics() -> int:
    with new_session() as session:
        return session.scalar(select(func.count()).select_from(Clinic)) or 0


@pytest.mark.parametrize("failed", [False, True])
def test_uncommitted_writes_are_discarded(env: Path, failed: bool) -> None:
    pending = new_session()
    pending.add(Clinic(name="未送信の医療機関"))
    close_read_session(pending, failed=failed)

    flushed = new_session()
    flushed.scalar(select(func.count()).select_from(Clinic))
    flushed.add(Clinic(name="書き込んだだけの医療機関"))
    flushed.flush()
    close_read_session(flushed, failed=failed)

    core = new_session()
    core.execute(insert(Clinic).values(name="SQLで書いた医療機関"))
    close_read_session(core, failed=failed)

    assert _clinics() == 0


def test_a_failed_statement_is_rolled_back(env: Path) -> None:
    session = new_session()
    session.add(Clinic(name="さくら内科クリニック"))
    session.flush()
    with pytest.raises(Exception):  # noqa: B017 - whichever error the database names
        session.execute(text("SELECT no_such_column FROM clinic"))
    close_read_session(session, failed=False)
    assert _clinics() == 0


def test_reading_requests_keep_prepared_statements_on_postgresql(env: Path, db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("psycopg prepares statements; SQLite's driver keeps its own cache")
    query = select(Clinic.id).where(Clinic.name == "さくら内科クリニック")
    # psycopg prepares a statement at its fifth run on a connection, and forgets all at a
    # rollback. An engine of its own, used by one request after another, has one connection
    # (the process's pool may hold several, handed out in turn).
    engine = make_engine(db_url)
    try:
        for _ in range(6):
            session = Session(engine)
            session.execute(query).all()
            close_read_session(session, failed=False)
        with Session(engine) as session:
            prepared = session.scalar(text("SELECT count(*) FROM pg_prepared_statements"))
    finally:
        engine.dispose()
    assert prepared
