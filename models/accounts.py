"""accounts tables (see models/__init__.py): users, their clinics, login sessions, API tokens,
login attempts (throttling), staff decisions and the append-only audit log.

Everything an API worker needs to agree on with the others lives here, in the database: login
sessions and throttling counters are rows, not process memory (several API processes:
docs/architecture.md).
Secrets are never stored as given: passwords as argon2 hashes, session cookies and bearer tokens
as SHA-256 digests (they are 256-bit random values, so a fast digest is enough to make a stolen
table useless for logging in).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar, overload

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    ScalarSelect,
    Select,
    String,
    Text,
    event,
    func,
    select,
)
from sqlalchemy.orm import InstrumentedAttribute, Mapped, Session, mapped_column, relationship

from models.base import Base, JSONType, utcnow

ROLES = ("admin", "reviewer", "clinic")

_T = TypeVar("_T")
DECISIONS = ("harmful", "criticism", "unsure")


class User(Base):
    """A person who logs in: ``admin`` (everything), ``reviewer`` (all clinics, decides),
    ``clinic`` (reads only the clinics in ``memberships``)."""

    __tablename__ = "app_user"
    __table_args__ = (CheckConstraint("role IN ('admin', 'reviewer', 'clinic')", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased: one account per address whatever the case it is typed in.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    memberships: Mapped[list[ClinicMembership]] = relationship(
        back_populates="user",
        cascade="all, delete-orphan",
        order_by="ClinicMembership.clinic_id",
        lazy="selectin",
    )

    @property
    def clinic_ids(self) -> list[int]:
        return [m.clinic_id for m in self.memberships]


class ClinicMembership(Base):
    """A clinic user may see this clinic."""

    __tablename__ = "clinic_membership"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True
    )
    clinic_id: Mapped[int] = mapped_column(
        ForeignKey("clinic.id", ondelete="CASCADE"), primary_key=True, index=True
    )

    user: Mapped[User] = relationship(back_populates="memberships")


class LoginSession(Base):
    """A browser login: the cookie holds a random token, this row its SHA-256."""

    __tablename__ = "login_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    # Sent back by forms (hidden field) and scripts (X-CSRF-Token); compared with this value.
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    ip: Mapped[str | None] = mapped_column(String(64))

    user: Mapped[User] = relationship(lazy="joined")


class ApiToken(Base):
    """A bearer token for scripts (``kuchikomi token create``); shown once, stored as SHA-256."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    # The first characters of the token, so that an operator can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="joined")


class LoginAttempt(Base):
    """One password check, kept for throttling (failures per account and per address)."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        Index("ix_login_attempt_email_at", "email", "attempted_at"),
        Index("ix_login_attempt_ip_at", "ip", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    ip: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(Boolean)
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoginThrottle(Base):
    """Password checks counted against one account (``account:EMAIL``) or one client address
    (``ip:ADDRESS``) in the current throttling window, which starts at the first of them.

    A check is counted before it is made, by one conditional UPDATE of this row ("one more, unless
    already at the limit"), so parallel logins cannot all pass a count read before any of them
    was written (kuchikomi.services.accounts.check_password). A successful check is uncounted.
    """

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    window_start: Mapped[datetime]
    checks: Mapped[int] = mapped_column(Integer, default=0)


class Decision(Base):
    """A staff decision on a review; rows are only added, the latest per review is current.

    ``harmful`` carries the confirmed or corrected category; ``criticism`` and ``unsure`` none.
    Decisions are the training signal of ``kuchikomi model train`` (``unsure`` is skipped).
    """

    __tablename__ = "review_decision"
    __table_args__ = (
        CheckConstraint("decision IN ('harmful', 'criticism', 'unsure')", name="decision"),
        Index("ix_review_decision_review_id_id", "review_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("review.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    decision: Mapped[str] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User | None] = relationship(lazy="joined")


# "The latest decision" is the one recorded last: the highest id of the review's rows. Every query
# asking for a current decision goes through these two (ix_review_decision_review_id_id serves
# both).


def latest_decision_ids() -> Select[tuple[int]]:
    """The id of each review's latest decision (``Decision.id.in_(latest_decision_ids())``);
    narrow it with ``.where(Decision.review_id …)`` before use on a few reviews."""
    return select(func.max(Decision.id)).group_by(Decision.review_id)


@overload
def latest_decision_of(
    review_id: ColumnElement[int] | InstrumentedAttribute[int],
) -> ScalarSelect[str]: ...


@overload
def latest_decision_of(
    review_id: ColumnElement[int] | InstrumentedAttribute[int], column: InstrumentedAttribute[_T]
) -> ScalarSelect[_T]: ...


def latest_decision_of(
    review_id: ColumnElement[int] | InstrumentedAttribute[int],
    column: InstrumentedAttribute[Any] = Decision.decision,
) -> ScalarSelect[Any]:
    """The latest decision value of the review ``review_id`` names in the enclosing query (a
    correlated subquery; None without a decision); ``column`` reads another of its columns."""
    return (
        select(column)
        .where(Decision.review_id == review_id)
        .order_by(Decision.id.desc())
        .limit(1)
        .scalar_subquery()
    )


class AuditEntry(Base):
    """Who did what, when, with the object's state before and after. Append-only.

    No foreign keys: the log must outlive the users and objects it talks about, so the actor's
    e-mail is copied in and objects are named by type and id.
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None]
    # The e-mail of the user, or "cli:<os user>" for commands run on the server.
    actor: Mapped[str] = mapped_column(String(254))
    # "decision.create", "user.create", "token.create", "case.update", …
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class AppendOnlyError(RuntimeError):
    """Something tried to change or delete an audit entry."""


@event.listens_for(Session, "before_flush")
def _audit_is_append_only(session: Session, flush_context: Any, instances: Any) -> None:
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, AuditEntry) and (obj in session.deleted or session.is_modified(obj)):
            raise AppendOnlyError("audit log entries cannot be changed or deleted")
