"""Accounts an operator can run (issue 12): ``kuchikomi user list | disable | enable |
set-password | set-role``, checked against the real app: a disabled account's sessions and tokens
stop at once, every change is audited, an unknown e-mail is bad input (exit 2, nothing written)."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.app import create_app
from kuchikomi.cli import app
from models import ApiToken, AuditEntry, Clinic, LoginSession, User

runner = CliRunner()
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase"


def _cli(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def _add(email: str, role: str = "reviewer", *extra: str) -> None:
    code, _, err = _cli(
        "user", "add", "--email", email, "--role", role, *extra, "--password-stdin", stdin=PASSWORD
    )
    assert code == 0, err


def _login(client: TestClient, email: str, password: str) -> int:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    response = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token[1]},
        follow_redirects=False,
    )
    return response.status_code


def _actions(session: Session) -> list[str]:
    session.expire_all()
    return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_user_list_shows_roles_clinics_and_state(session: Session) -> None:
    clinic = Clinic(name="さくら内科")
    session.add(clinic)
    session.commit()
    _add("staff@example.jp")
    _add("clinic@example.jp", "clinic", "--clinic", str(clinic.id))

    code, out, err = _cli("user", "list", "--format", "json")

    assert code == 0, err
    rows = json.loads(out)
    assert [(r["email"], r["role"], r["clinic_ids"], r["active"]) for r in rows] == [
        ("staff@example.jp", "reviewer", [], True),
        ("clinic@example.jp", "clinic", [clinic.id], True),
    ]
    assert "hash" not in out and "argon2" not in out
    table = _cli("user", "list")[1]
    assert "staff@example.jp" in table and "clinic@example.jp" in table


def test_disable_ends_sessions_and_tokens_at_once_and_enable_restores_logins(
    session: Session,
) -> None:
    _add("staff@example.jp")
    token = _cli("token", "create", "--email", "staff@example.jp")[1].strip()
    bearer = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app()) as browser, TestClient(create_app()) as script:
        assert _login(browser, "staff@example.jp", PASSWORD) == 303
        assert browser.get("/api/v1/me").status_code == 200
        assert script.get("/api/v1/me", headers=bearer).status_code == 200

        code, out, err = _cli("user", "disable", "Staff@Example.jp")

        assert code == 0, err
        assert "1 login session(s) ended, 1 token(s) revoked" in out
        assert browser.get("/api/v1/me").status_code == 401
        assert script.get("/api/v1/me", headers=bearer).status_code == 401
        assert _login(browser, "staff@example.jp", PASSWORD) == 401
        session.expire_all()
        assert session.scalar(select(func.count(LoginSession.id))) == 0
        assert session.scalars(select(ApiToken)).one().revoked_at is not None

        code, out, err = _cli("user", "enable", "staff@example.jp")

        assert code == 0, err
        assert _login(browser, "staff@example.jp", PASSWORD) == 303
        assert browser.get("/api/v1/me").status_code == 200
        # Revoked tokens stay revoked: a new one must be made on purpose.
        assert script.get("/api/v1/me", headers=bearer).status_code == 401
    assert _actions(session)[-2:] == ["user.disable", "user.enable"]
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "user.disable")).one()
    assert entry.before is not None and entry.before["is_active"] is True
    assert entry.after is not None and entry.after["is_active"] is False
    assert entry.after["tokens_revoked"] == 1 and entry.actor.startswith("cli")


def test_set_password_reads_stdin_and_logs_out_the_old_sessions(session: Session) -> None:
    _add("staff@example.jp")
    with TestClient(create_app()) as browser:
        assert _login(browser, "staff@example.jp", PASSWORD) == 303

        code, out, err = _cli(
            "user", "set-password", "staff@example.jp", "--password-stdin", stdin=NEW_PASSWORD
        )

        assert code == 0, err
        assert browser.get("/api/v1/me").status_code == 401
        assert _login(browser, "staff@example.jp", PASSWORD) == 401
        assert _login(browser, "staff@example.jp", NEW_PASSWORD) == 303
    assert _actions(session)[-1] == "user.set_password"
    assert NEW_PASSWORD not in json.dumps(
        [e.after for e in session.scalars(select(AuditEntry))], ensure_ascii=False
    )
    # Never from the command line; a too short password changes nothing.
    assert _cli("user", "set-password", "staff@example.jp")[0] == 2
    before = session.scalars(select(User)).one().password_hash
    code, _, err = _cli("user", "set-password", "staff@example.jp", "--password-stdin", stdin="x")
    assert code == 2 and "at least 10 characters" in err
    session.expire_all()
    assert session.scalars(select(User)).one().password_hash == before


def test_set_role_takes_effect_at_the_next_request_and_is_audited(session: Session) -> None:
    clinic = Clinic(name="さくら内科")
    session.add(clinic)
    session.commit()
    _add("staff@example.jp", "admin")
    token = _cli("token", "create", "--email", "staff@example.jp")[1].strip()
    bearer = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app()) as script:
        assert script.get("/api/v1/audit", headers=bearer).status_code == 200

        code, out, err = _cli(
            "user", "set-role", "staff@example.jp", "clinic", "--clinic", str(clinic.id)
        )

        assert code == 0, err
        assert "clinic" in out
        me = script.get("/api/v1/me", headers=bearer).json()
        assert me["role"] == "clinic" and me["clinic_ids"] == [clinic.id]
        assert script.get("/api/v1/audit", headers=bearer).status_code == 403

        assert _cli("user", "set-role", "staff@example.jp", "reviewer")[0] == 0
        assert script.get("/api/v1/me", headers=bearer).json()["clinic_ids"] is None
    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "user.set_role").order_by(AuditEntry.id)
    ).all()
    assert [(e.before["role"], e.after["role"]) for e in entries if e.before and e.after] == [
        ("admin", "clinic"),
        ("clinic", "reviewer"),
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["user", "disable", "nobody@example.jp"],
        ["user", "enable", "nobody@example.jp"],
        ["user", "set-password", "nobody@example.jp", "--password-stdin"],
        ["user", "set-role", "nobody@example.jp", "reviewer"],
    ],
)
def test_unknown_email_is_a_usage_error_and_changes_nothing(
    session: Session, args: list[str]
) -> None:
    _add("staff@example.jp")
    before = _actions(session)

    code, out, err = _cli(*args, stdin=NEW_PASSWORD)

    assert code == 2
    assert "no user with e-mail nobody@example.jp" in err
    assert _actions(session) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["superuser"], "unknown role 'superuser'"),
        (["clinic"], "needs at least one --clinic"),
        (["reviewer", "--clinic", "999"], "applies to clinic users only"),
        (["clinic", "--clinic", "999"], "clinic 999 does not exist"),
        (["clinic", "--clinic", "99999999999"], "2147483647"),
    ],
)
def test_bad_roles_are_refused_with_nothing_changed(
    session: Session, args: list[str], message: str
) -> None:
    _add("staff@example.jp")
    before = _actions(session)

    code, _, err = _cli("user", "set-role", "staff@example.jp", *args)

    assert code == 2 and message in err
    assert _actions(session) == before
    session.expire_all()
    assert session.scalars(select(User)).one().role == "reviewer"
