"""The append-only audit log: every decision and change, with who, when, before and after.

Call :func:`record_audit` in the same transaction as the change it describes, so that a change
without its entry (or an entry without its change) can never be committed. Entries are never
updated or deleted (``models.accounts`` refuses it at flush time).
"""

from __future__ import annotations

import getpass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.accounts import AuditEntry, User

MAX_AUDIT_LIMIT = 200


def cli_actor() -> str:
    """The actor recorded for commands run on the server (no logged-in user)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def record_audit(
    *,
    session: Session,
    user: User | None,
    action: str,
    object_type: str,
    object_id: int | str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    actor: str | None = None,
) -> AuditEntry:
    """Add one entry (flushed, not committed: the caller commits it with the change)."""
    entry = AuditEntry(
        user_id=user.id if user is not None else None,
        actor=actor or (user.email if user is not None else cli_actor()),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=before,
        after=after,
    )
    session.add(entry)
    session.flush()
    return entry


def list_audit(
    *,
    session: Session,
    before_id: int | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    limit: int = 50,
) -> tuple[list[AuditEntry], int | None]:
    """Newest first, keyset-paginated by id; returns the entries and the next ``before_id``."""
    if not 1 <= limit <= MAX_AUDIT_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_AUDIT_LIMIT}")
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    if object_type is not None:
        query = query.where(AuditEntry.object_type == object_type)
    if object_id is not None:
        query = query.where(AuditEntry.object_id == object_id)
    rows = list(session.scalars(query.limit(limit + 1)))
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, rows[-1].id
    return rows, None
