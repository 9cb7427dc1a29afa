"""Request-scoped dependencies, named by type alias (``SessionDep``) so routes stay short."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated

from anyio import CancelScope, to_thread
from fastapi import Depends
from sqlalchemy.orm import Session

from models.db import close_read_session, new_session


async def get_session() -> AsyncIterator[Session]:
    """One session per request; routes that write commit explicitly, the rest is rolled back.

    Opening a session does no I/O (it connects at its first query), so it is done on the event
    loop rather than in a worker thread of its own; closing it does, so that runs in one.
    """
    session = new_session()
    failed = True
    try:
        yield session
        failed = False
    finally:
        # Closing rolls back whatever a route did not commit (an error halfway leaves nothing);
        # a transaction that wrote nothing ends in COMMIT instead, which keeps psycopg's
        # prepared statements (see close_read_session).
        # Shielded: a client that hung up must not leave the connection checked out.
        with CancelScope(shield=True):
            await to_thread.run_sync(partial(close_read_session, session, failed=failed))


# scope="function": the session is closed (its connection back in the pool) once the route has
# returned and its answer is serialised, before the answer is sent; a connection held until the
# client had read the answer made concurrent clients open connections beyond the pool's. Routes
# that stream (the CSV export) read in sessions of their own.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
