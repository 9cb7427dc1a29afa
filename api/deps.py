"""Request-scoped dependencies, named by type alias (``SessionDep``) so routes stay short."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from models.db import new_session


def get_session() -> Iterator[Session]:
    """One session per request; routes that write commit explicitly, the rest is rolled back."""
    session = new_session()
    try:
        yield session
    finally:
        # Closing rolls back whatever a route did not commit (an error halfway leaves nothing).
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]
