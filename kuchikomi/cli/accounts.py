"""``kuchikomi user`` and ``kuchikomi token``: accounts and bearer tokens, run on the server.

Passwords are read from stdin (``--password-stdin``), never from the command line, where other
users of the machine could read them in the process list. Every change is written to the audit
log with the operating-system user as the actor. An unknown e-mail is bad input (exit 2).
"""

from __future__ import annotations

import sys

import typer

from kuchikomi.cli.common import (
    FORMAT_HELP,
    ListFormat,
    fail,
    print_csv,
    print_json,
    print_table,
    require_schema,
)
from kuchikomi.schemas import MAX_DB_ID

user_app = typer.Typer(help="Staff and clinic accounts.", no_args_is_help=True)
token_app = typer.Typer(
    help="Bearer tokens for scripts: create, list, revoke.", no_args_is_help=True
)


@user_app.command("add")
def add(
    email: str = typer.Option(..., "--email", help="Login e-mail address."),
    role: str = typer.Option(..., "--role", help="admin, reviewer or clinic."),
    clinic: list[int] = typer.Option(
        [],
        "--clinic",
        min=1,
        max=MAX_DB_ID,
        help="A clinic id the clinic user may see (repeat for several).",
    ),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of stdin."
    ),
) -> None:
    """Create a user; prints the new user's id."""
    from kuchikomi.services.accounts import create_user
    from models.db import session_scope

    password = _read_password(password_stdin)
    require_schema()
    with session_scope() as session:
        user = create_user(
            session=session, email=email, role=role, password=password, clinic_ids=clinic
        )
        user_id = user.id
    typer.echo(user_id)


def _read_password(password_stdin: bool) -> str:
    if not password_stdin:
        fail("give the password on stdin with --password-stdin (never on the command line)")
    return sys.stdin.readline().rstrip("\r\n")


@user_app.command("list")
def list_users(
    format: ListFormat = typer.Option(ListFormat.table, "--format", help="table, json or csv."),
) -> None:
    """List accounts: e-mail, role, clinics, whether active, last login."""
    from kuchikomi.services.accounts import list_users as users
    from models.db import session_scope

    require_schema()
    with session_scope() as session:
        rows = [
            {
                "id": u.id,
                "email": u.email,
                "role": u.role,
                "clinic_ids": u.clinic_ids,
                "active": u.is_active,
                "created_at": u.created_at.isoformat(),
                "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None,
            }
            for u in users(session=session)
        ]
    columns = ["id", "email", "role", "clinic_ids", "active", "created_at", "last_login_at"]
    if format is ListFormat.json:
        print_json(rows)
    elif format is ListFormat.csv:
        print_csv(rows, columns)
    else:
        # The times make the table too wide for a terminal; json and csv have them.
        print_table(rows, ["id", "email", "role", "clinic_ids", "active"])


@user_app.command("disable")
def disable(email: str = typer.Argument(..., help="The account's e-mail.")) -> None:
    """Stop an account at once: no more logins, its sessions end, its tokens are revoked."""
    from kuchikomi.services.accounts import disable_user, user_by_email
    from models.db import session_scope

    require_schema()
    with session_scope() as session:
        user = user_by_email(session=session, email=email)
        ended = disable_user(session=session, user=user)
        message = (
            f"disabled {user.email}: {ended['sessions_ended']} login session(s) ended, "
            f"{ended['tokens_revoked']} token(s) revoked"
        )
    typer.echo(message)


@user_app.command("enable")
def enable(email: str = typer.Argument(..., help="The account's e-mail.")) -> None:
    """Let a disabled account log in again (revoked tokens stay revoked)."""
    from kuchikomi.services.accounts import enable_user, user_by_email
    from models.db import session_scope

    require_schema()
    with session_scope() as session:
        user = user_by_email(session=session, email=email)
        enable_user(session=session, user=user)
        message = f"enabled {user.email}"
    typer.echo(message)


@user_app.command("set-password")
def set_password(
    email: str = typer.Argument(..., help="The account's e-mail."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the new password from the first line of stdin."
    ),
) -> None:
    """Replace an account's password; its login sessions end (bearer tokens stay)."""
    from kuchikomi.services.accounts import set_password as replace_password
    from kuchikomi.services.accounts import user_by_email
    from models.db import session_scope

    password = _read_password(password_stdin)
    require_schema()
    with session_scope() as session:
        user = user_by_email(session=session, email=email)
        replace_password(session=session, user=user, password=password)
        message = f"password changed for {user.email}"
    typer.echo(message)


@user_app.command("set-role")
def set_role(
    email: str = typer.Argument(..., help="The account's e-mail."),
    role: str = typer.Argument(..., help="admin, reviewer or clinic."),
    clinic: list[int] = typer.Option(
        [],
        "--clinic",
        min=1,
        max=MAX_DB_ID,
        help="For the clinic role: a clinic the user may see (repeat for several).",
    ),
) -> None:
    """Change an account's role (and a clinic user's clinics); effective at its next request."""
    from kuchikomi.services.accounts import set_role as change_role
    from kuchikomi.services.accounts import user_by_email
    from models.db import session_scope

    require_schema()
    with session_scope() as session:
        user = user_by_email(session=session, email=email)
        change_role(session=session, user=user, role=role, clinic_ids=clinic)
        message = f"{user.email} is now {user.role}" + (
            f" (clinics {', '.join(map(str, user.clinic_ids))})" if user.clinic_ids else ""
        )
    typer.echo(message)


@token_app.command("create")
def create(email: str = typer.Option(..., "--email", help="The user the token acts as.")) -> None:
    """Create a bearer token and print it (shown once; only its hash and first 10 characters
    are stored)."""
    from kuchikomi.services.accounts import create_token, get_user_by_email
    from models.db import session_scope

    require_schema()
    with session_scope() as session:
        user = get_user_by_email(session=session, email=email)
        if user is None or not user.is_active:
            fail(f"no active user with e-mail {email}")
        token = create_token(session=session, user=user)
    typer.echo(token)


@token_app.command("list")
def list_(
    email: str | None = typer.Option(None, "--email", help="Only this user's tokens."),
    format: ListFormat = typer.Option(ListFormat.table, "--format", help=FORMAT_HELP),
) -> None:
    """List bearer tokens: the prefix that names each one, its user, when made and revoked."""
    from kuchikomi.services.accounts import get_user_by_email, list_tokens
    from models.db import session_scope

    require_schema()
    with session_scope() as session:
        user = None
        if email is not None:
            user = get_user_by_email(session=session, email=email)
            if user is None:
                fail(f"no user with e-mail {email}")
        rows = [
            {
                "prefix": t.prefix,
                "user": t.user.email,
                "created_at": t.created_at.isoformat(),
                "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
            }
            for t in list_tokens(session=session, user=user)
        ]
    columns = ["prefix", "user", "created_at", "revoked_at"]
    if format is ListFormat.json:
        print_json(rows)
    elif format is ListFormat.csv:
        print_csv(rows, columns)
    else:
        print_table(rows, columns)


@token_app.command("revoke")
def revoke(
    prefix: str = typer.Argument(..., help="The token's prefix as `token list` shows it."),
) -> None:
    """Revoke a bearer token at once: scripts using it get 401 from then on."""
    from kuchikomi.services.accounts import revoke_token
    from models.db import session_scope

    require_schema()
    with session_scope() as session:
        token = revoke_token(session=session, prefix=prefix)
        message = f"revoked {token.prefix}… ({token.user.email})"
    typer.echo(message)
