"""Accounts: users and roles, password checks with throttling, login sessions, bearer tokens.

Shared by the CLI (``kuchikomi user add``, ``kuchikomi token create``) and the API (api/auth.py).
Every piece of state lives in the database so that several API workers agree (docs/architecture.md).

- Passwords: argon2id at the cost of ``settings.password_hash`` (argon2-cffi's defaults, RFC 9106
  low-memory profile, unless configured otherwise; the tests lower it).
- Session cookies and bearer tokens: 256-bit random values; only their SHA-256 is stored.
- Throttling: password checks are counted per account and per client address in a window that
  starts at the first of them; past the limit the password is not even checked until the window
  has passed. A check is counted before it is made, in one conditional UPDATE, so however many
  arrive at once no more than the limit are ever checked (:func:`check_password`).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import CursorResult, bindparam, case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, joinedload

from kuchikomi.errors import Invalid, Throttled
from kuchikomi.schemas import MAX_DB_ID
from kuchikomi.services.audit import record_audit
from kuchikomi_settings import get_settings
from models import Clinic
from models.accounts import (
    ROLES,
    ApiToken,
    ClinicMembership,
    LoginAttempt,
    LoginSession,
    LoginThrottle,
    User,
)
from models.base import utcnow
from models.db import new_session

SESSION_LIFETIME = timedelta(hours=12)
# OWASP-style limits: a handful of guesses per account, more per address (an office shares one).
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_IP = 20
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
TOKEN_PREFIX = "kg_"
# How much of a token is stored in clear, so that an operator can tell tokens apart.
SHOWN_PREFIX = 10


@dataclass(frozen=True)
class _Hashing:
    hasher: PasswordHasher
    # Verified against when the e-mail is unknown, so that the answer takes as long either way.
    dummy_hash: str


@lru_cache(maxsize=4)
def _hashing_at(time_cost: int, memory_cost: int, parallelism: int) -> _Hashing:
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
    return _Hashing(hasher, hasher.hash(secrets.token_urlsafe(16)))


def _hashing() -> _Hashing:
    """Hasher and dummy hash at the configured cost (read from the settings at each use, not
    frozen at import; the dummy hash is made with the hasher, before any password is checked)."""
    cost = get_settings().password_hash
    return _hashing_at(cost.time_cost, cost.memory_cost, cost.parallelism)


class AccountError(Invalid):
    """Bad input for an account operation (unknown role, weak password, unknown clinic…)."""


class ThrottledError(Throttled):
    """Too many failed logins for this account or address; try again later."""

    message_ja = (
        "ログインの失敗が続いたため、一時的にログインを止めています。"
        f"{THROTTLE_WINDOW // timedelta(minutes=1)}分ほど待ってから、もう一度お試しください。"
    )


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if (
        not email
        or "@" not in email
        or len(email) > 254
        or any(c.isspace() or not c.isprintable() for c in email)
    ):
        raise AccountError(f"not an e-mail address: {email!r}")
    return email


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")
    return _hashing().hasher.hash(password)


def user_public(user: User) -> dict[str, object]:
    """What the audit log records about a user (never the hash)."""
    return {
        "email": user.email,
        "role": user.role,
        "clinic_ids": user.clinic_ids,
        "is_active": user.is_active,
    }


def _role_clinics(session: Session, role: str, clinic_ids: Iterable[int]) -> list[int]:
    """The clinics a user of ``role`` is given: clinic users need some, the others none."""
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    wanted = sorted(set(clinic_ids))
    if role == "clinic" and not wanted:
        raise AccountError("a clinic user needs at least one --clinic")
    if role != "clinic" and wanted:
        raise AccountError(f"--clinic applies to clinic users only; {role} sees every clinic")
    _check_clinics(session, wanted)
    return wanted


def _check_clinics(session: Session, clinic_ids: Iterable[int]) -> None:
    for clinic_id in clinic_ids:
        # An id beyond the column's range would overflow in the database rather than be absent.
        if not 1 <= clinic_id <= MAX_DB_ID or session.get(Clinic, clinic_id) is None:
            raise AccountError(f"clinic {clinic_id} does not exist")


def _audit_user(
    session: Session,
    actor: User | None,
    action: str,
    user: User,
    *,
    before: dict[str, Any] | None,
    after: dict[str, Any],
) -> None:
    """One audit entry about ``user``, done by ``actor`` (None: the operator's CLI)."""
    record_audit(
        session=session,
        user=actor,
        action=action,
        object_type="user",
        object_id=user.id,
        before=before,
        after=after,
    )


def create_user(
    *,
    session: Session,
    email: str,
    role: str,
    password: str,
    clinic_ids: Iterable[int] = (),
    actor: User | None = None,
) -> User:
    """A new user (flushed, with its audit entry; the caller commits)."""
    email = normalize_email(email)
    clinic_ids = _role_clinics(session, role, clinic_ids)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise AccountError(f"a user with e-mail {email} already exists")
    user = User(email=email, role=role, password_hash=hash_password(password))
    user.memberships = [ClinicMembership(clinic_id=c) for c in clinic_ids]
    session.add(user)
    session.flush()
    _audit_user(session, actor, "user.create", user, before=None, after=user_public(user))
    return user


def get_user_by_email(*, session: Session, email: str) -> User | None:
    try:
        email = normalize_email(email)
    except AccountError:
        return None
    return session.scalar(select(User).where(User.email == email))


def create_token(*, session: Session, user: User, actor: User | None = None) -> str:
    """A new bearer token for ``user``; the returned value is shown once and never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(token_sha256=sha256_hex(token), user_id=user.id, prefix=token[:SHOWN_PREFIX])
    session.add(row)
    session.flush()
    record_audit(
        session=session,
        user=actor,
        action="token.create",
        object_type="api_token",
        object_id=row.id,
        before=None,
        after={"user": user.email, "prefix": row.prefix},
    )
    return token


def list_tokens(*, session: Session, user: User | None = None) -> list[ApiToken]:
    """Bearer tokens (all users', or ``user``'s), oldest first; revoked ones included."""
    query = select(ApiToken).order_by(ApiToken.created_at, ApiToken.id)
    if user is not None:
        query = query.where(ApiToken.user_id == user.id)
    return list(session.scalars(query))


def revoke_token(*, session: Session, prefix: str, actor: User | None = None) -> ApiToken:
    """Revoke the one active token starting with ``prefix`` (as listed by ``token list``).

    A prefix is all an operator sees of a token; a full token is accepted too. Unknown and
    ambiguous prefixes are refused with nothing changed.
    """
    prefix = prefix.strip()
    if len(prefix) < len(TOKEN_PREFIX) + 4:
        raise AccountError(f"give at least {len(TOKEN_PREFIX) + 4} characters of the token")
    if len(prefix) > SHOWN_PREFIX:  # a whole token: find it by its hash
        query = select(ApiToken).where(ApiToken.token_sha256 == sha256_hex(prefix))
    else:
        query = select(ApiToken).where(ApiToken.prefix.startswith(prefix, autoescape=True))
    active = [t for t in session.scalars(query) if t.revoked_at is None]
    if not active:
        raise AccountError(f"no active token starting with {prefix[:10]}")
    if len(active) > 1:
        raise AccountError(f"{len(active)} active tokens start with {prefix}; give more of it")
    token = active[0]
    token.revoked_at = utcnow()
    record_audit(
        session=session,
        user=actor,
        action="token.revoke",
        object_type="api_token",
        object_id=token.id,
        before={"user": token.user.email, "prefix": token.prefix, "revoked_at": None},
        after={
            "user": token.user.email,
            "prefix": token.prefix,
            "revoked_at": token.revoked_at.isoformat(),
        },
    )
    return token


# Asked on every request, so built once, and one round trip: the user with their clinics in the
# same query (a reviewer's has none), rather than the token, then the user, then the clinics.
_USER_FOR_TOKEN = (
    select(User)
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(
        ApiToken.token_sha256 == bindparam("digest"),
        ApiToken.revoked_at.is_(None),
        User.is_active.is_(True),
    )
    .options(joinedload(User.memberships))
)


def user_for_token(*, session: Session, token: str) -> User | None:
    """The active user of a token that is not revoked, read from the database on every call
    (no cache: disabling the user or revoking the token takes effect at the next request)."""
    result = session.scalars(_USER_FOR_TOKEN, {"digest": sha256_hex(token)})
    return result.unique().one_or_none()


@dataclass(frozen=True)
class NewSession:
    cookie_value: str
    csrf_token: str
    expires_at: datetime


def _storable_key(value: str) -> str:
    """A value from the request (the e-mail as typed, the client address) as a throttling key
    a database can hold (no NUL, no unpaired surrogates); it names a counter and nothing else."""
    return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")[:254]


def _insert_ignoring_existing(session: Session, key: str, now: datetime) -> None:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(LoginThrottle)
        .values(key=key, window_start=now, checks=0)
        .on_conflict_do_nothing(index_elements=["key"])
    )


def _count_checks(limits: dict[str, int], now: datetime) -> bool:
    """Count one more password check against every key, all or none, in a transaction of its
    own (committed before the slow password hash, so no row stays locked meanwhile).

    False when a key is at its limit within the window. The count is one conditional UPDATE per
    key: on PostgreSQL it locks the row and re-reads it after a concurrent update; SQLite runs
    one writer at a time. So two requests can never both take the last check.
    """
    since = now - THROTTLE_WINDOW
    expired = LoginThrottle.window_start <= since
    with new_session() as counting:
        # A counter whose window ended long ago counts for nothing (it would be reset at its
        # next check): swept here, so that the table holds the recent keys only, not every
        # address and e-mail ever tried. Another login may sweep one of ours between our
        # insert and our update: the update then finds no row, and the row is made again.
        counting.execute(
            delete(LoginThrottle)
            .where(LoginThrottle.window_start <= now - 2 * THROTTLE_WINDOW)
            .where(LoginThrottle.key.not_in(list(limits)))
            .execution_options(synchronize_session=False)
        )
        for key in limits:
            _insert_ignoring_existing(counting, key, now)
        for key, limit in limits.items():  # always the account first, then the address
            for swept in (False, True):
                counted: CursorResult[Any] = counting.execute(  # type: ignore[assignment]
                    update(LoginThrottle)
                    .where(LoginThrottle.key == key, or_(expired, LoginThrottle.checks < limit))
                    .values(
                        checks=case((expired, 1), else_=LoginThrottle.checks + 1),
                        window_start=case((expired, now), else_=LoginThrottle.window_start),
                    )
                    .execution_options(synchronize_session=False)
                )
                if counted.rowcount == 1:
                    break
                if swept or counting.get(LoginThrottle, key) is not None:
                    counting.rollback()  # at the limit within the window
                    return False
                _insert_ignoring_existing(counting, key, now)
        counting.commit()
    return True


def check_password(*, session: Session, email: str, password: str, ip: str) -> User | None:
    """The user if the password is right; None if not. Records the attempt (caller commits).

    Raises :class:`ThrottledError` without checking anything when the account or the address
    has used up its checks within :data:`THROTTLE_WINDOW` (the window starts at the first). The
    check is counted before it is made and uncounted when the password was right, so only
    failures hold a place.
    """
    key = _storable_key(email.strip().lower())
    ip = _storable_key(ip)[:64]
    limits = {f"account:{key}": MAX_FAILURES_PER_ACCOUNT, f"ip:{ip}": MAX_FAILURES_PER_IP}
    if not _count_checks(limits, utcnow()):
        raise ThrottledError("too many failed logins; try again later")
    since = utcnow() - THROTTLE_WINDOW
    user = get_user_by_email(session=session, email=email)
    hashing = _hashing()
    hasher = hashing.hasher
    ok = False
    try:
        if len(password) <= MAX_PASSWORD_LENGTH:
            ok = hasher.verify(user.password_hash if user else hashing.dummy_hash, password)
    except (VerificationError, InvalidHashError):
        ok = False
    ok = ok and user is not None and user.is_active
    session.add(LoginAttempt(email=key, ip=ip, succeeded=ok))
    if not ok:
        return None
    assert user is not None
    session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key.in_(list(limits)), LoginThrottle.checks > 0)
        .values(checks=LoginThrottle.checks - 1)
        .execution_options(synchronize_session=False)
    )
    # A success clears this account's old failures from the table (they no longer count anyway).
    session.execute(
        delete(LoginAttempt).where(LoginAttempt.email == key, LoginAttempt.attempted_at < since)
    )
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    user.last_login_at = utcnow()
    return user


def start_session(*, session: Session, user: User, ip: str | None) -> NewSession:
    cookie_value = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(32)
    now = utcnow()
    expires_at = now + SESSION_LIFETIME
    # Expired sessions of this user are of no use to anyone: drop them while we are here.
    session.execute(
        delete(LoginSession).where(LoginSession.user_id == user.id, LoginSession.expires_at < now)
    )
    session.add(
        LoginSession(
            token_sha256=sha256_hex(cookie_value),
            user_id=user.id,
            csrf_token=csrf_token,
            expires_at=expires_at,
            ip=ip[:64] if ip else None,
        )
    )
    session.flush()
    return NewSession(cookie_value=cookie_value, csrf_token=csrf_token, expires_at=expires_at)


_LOGIN_FOR_COOKIE = (
    select(LoginSession)
    .where(LoginSession.token_sha256 == bindparam("digest"))
    .options(joinedload(LoginSession.user).joinedload(User.memberships))
)


def session_for_cookie(*, session: Session, cookie_value: str) -> LoginSession | None:
    """The login of a session cookie with its user (and their clinics) in one query; None when
    it is unknown, expired or its user disabled."""
    result = session.scalars(_LOGIN_FOR_COOKIE, {"digest": sha256_hex(cookie_value)})
    row = result.unique().one_or_none()
    if row is None or row.expires_at <= utcnow() or not row.user.is_active:
        return None
    return row


def end_session(*, session: Session, cookie_value: str) -> None:
    session.execute(
        delete(LoginSession).where(LoginSession.token_sha256 == sha256_hex(cookie_value))
    )


def set_password(*, session: Session, user: User, password: str, actor: User | None = None) -> None:
    """Replace the user's password and end their login sessions (whoever knew the old password
    is logged out); audited, the hashes themselves are never logged. Bearer tokens stay."""
    user.password_hash = hash_password(password)
    ended = _end_sessions(session, user)
    _audit_user(
        session,
        actor,
        "user.set_password",
        user,
        before=None,
        after={"email": user.email, "sessions_ended": ended},
    )


# --- Accounts an operator runs (``kuchikomi user list|disable|enable|set-password|set-role``) ---


def list_users(*, session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def user_by_email(*, session: Session, email: str) -> User:
    """The user with this e-mail; :class:`AccountError` naming it when there is none."""
    user = get_user_by_email(session=session, email=email)
    if user is None:
        raise AccountError(f"no user with e-mail {email.strip()}")
    return user


def _end_sessions(session: Session, user: User) -> int:
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        delete(LoginSession)
        .where(LoginSession.user_id == user.id)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


def disable_user(*, session: Session, user: User, actor: User | None = None) -> dict[str, int]:
    """Stop the account at once: its login sessions are deleted and its active bearer tokens
    revoked (so enabling it again brings none of them back). Audited; the caller commits."""
    before = user_public(user)
    user.is_active = False
    ended = _end_sessions(session, user)
    now = utcnow()
    revoked = 0
    for token in list_tokens(session=session, user=user):
        if token.revoked_at is None:
            token.revoked_at = now
            revoked += 1
    _audit_user(
        session,
        actor,
        "user.disable",
        user,
        before=before,
        after={**user_public(user), "sessions_ended": ended, "tokens_revoked": revoked},
    )
    return {"sessions_ended": ended, "tokens_revoked": revoked}


def enable_user(*, session: Session, user: User, actor: User | None = None) -> None:
    """Let a disabled account log in again (with its password; tokens must be created anew)."""
    before = user_public(user)
    user.is_active = True
    _audit_user(session, actor, "user.enable", user, before=before, after=user_public(user))


def set_role(
    *,
    session: Session,
    user: User,
    role: str,
    clinic_ids: Iterable[int] = (),
    actor: User | None = None,
) -> None:
    """Change the user's role (and, for a clinic user, the clinics they see); audited. Takes
    effect at the user's next request: roles are read from the database every time."""
    wanted = _role_clinics(session, role, clinic_ids)
    before = user_public(user)
    user.role = role
    kept = {m.clinic_id: m for m in user.memberships}
    user.memberships = [kept.get(c) or ClinicMembership(clinic_id=c) for c in wanted]
    session.flush()
    _audit_user(session, actor, "user.set_role", user, before=before, after=user_public(user))
