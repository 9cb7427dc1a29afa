"""``kuchikomi user add`` and ``kuchikomi token create``: accounts from the command line, bad input
refused with nothing stored, tokens that work against the real API, every change audited."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.app import create_app
from kuchikomi.cli import app
from models import ApiToken, AuditEntry, Clinic, User

runner = CliRunner()
PASSWORD = "correct horse battery staple"


def _user_add(*args: str, password: str = PASSWORD) -> tuple[int, str, str]:
    result = runner.invoke(app, ["user", "add", *args, "--password-stdin"], input=password + "\n")
    return result.exit_code, result.stdout, result.stderr


def _counts(session: Session) -> tuple[int, int, int]:
    session.expire_all()
    return (
        session.scalar(select(func.count(User.id))) or 0,
        session.scalar(select(func.count(ApiToken.id))) or 0,
        session.scalar(select(func.count(AuditEntry.id))) or 0,
    )


def test_user_add_prints_the_id_hashes_the_password_and_audits(session: Session) -> None:
    clinic = Clinic(name="さくら内科")
    session.add(clinic)
    session.commit()

    code, out, err = _user_add(
        "--email", "Clinic@Example.jp", "--role", "clinic", "--clinic", str(clinic.id)
    )

    assert code == 0, err
    user = session.get(User, int(out))
    assert user is not None
    assert user.email == "clinic@example.jp" and user.role == "clinic"
    assert user.clinic_ids == [clinic.id]
    assert PASSWORD not in user.password_hash and user.password_hash.startswith("$argon2id$")
    entry = session.scalars(select(AuditEntry)).one()
    assert entry.action == "user.create" and entry.actor.startswith("cli")
    assert entry.after == {
        "email": "clinic@example.jp",
        "role": "clinic",
        "clinic_ids": [clinic.id],
        "is_active": True,
    }


@pytest.mark.parametrize(
    ("args", "password", "message"),
    [
        (["--email", "a@example.jp", "--role", "owner"], PASSWORD, "unknown role"),
        (["--email", "a@example.jp", "--role", "admin"], "short", "at least 10"),
        (["--email", "not-an-address", "--role", "admin"], PASSWORD, "not an e-mail"),
        (["--email", "a@example.jp", "--role", "clinic"], PASSWORD, "needs at least one --clinic"),
        (["--email", "a@example.jp", "--role", "clinic", "--clinic", "999"], PASSWORD, "999"),
        (["--email", "a@example.jp", "--role", "admin", "--clinic", "1"], PASSWORD, "clinic users"),
    ],
)
def test_bad_user_input_exits_2_and_stores_nothing(
    session: Session, args: list[str], password: str, message: str
) -> None:
    before = _counts(session)
    code, _, err = _user_add(*args, password=password)
    assert code == 2
    assert message in err
    assert _counts(session) == before


def test_duplicate_email_and_password_on_the_command_line_are_refused(session: Session) -> None:
    assert _user_add("--email", "a@example.jp", "--role", "admin")[0] == 0
    before = _counts(session)

    code, _, err = _user_add("--email", "A@example.jp", "--role", "reviewer")
    assert code == 2 and "already exists" in err
    without_stdin = runner.invoke(
        app, ["user", "add", "--email", "b@example.jp", "--role", "admin"]
    )
    assert without_stdin.exit_code == 2 and "--password-stdin" in without_stdin.stderr
    assert _counts(session) == before


def test_token_create_prints_a_working_token_stored_only_as_a_hash(session: Session) -> None:
    assert _user_add("--email", "bot@example.jp", "--role", "reviewer")[0] == 0

    result = runner.invoke(app, ["token", "create", "--email", "bot@example.jp"])

    assert result.exit_code == 0, result.stderr
    token = result.stdout.strip()
    assert token.startswith("kg_") and len(token) > 40
    stored = session.scalars(select(ApiToken)).one()
    assert token not in stored.token_sha256
    with TestClient(create_app()) as client:
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["role"] == "reviewer"
        # A reviewer's token does not open the audit log.
        audit = client.get("/api/v1/audit", headers={"Authorization": f"Bearer {token}"})
        assert audit.status_code == 403
    actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["user.create", "token.create"]


def test_token_for_an_unknown_user_is_refused(session: Session) -> None:
    result = runner.invoke(app, ["token", "create", "--email", "nobody@example.jp"])
    assert result.exit_code == 2
    assert "no active user" in result.stderr
    assert _counts(session) == (0, 0, 0)


def test_token_list_and_revoke_stop_a_token_at_once(session: Session) -> None:
    import json

    assert _user_add("--email", "bot@example.jp", "--role", "reviewer")[0] == 0
    tokens = [
        runner.invoke(app, ["token", "create", "--email", "bot@example.jp"]).stdout.strip()
        for _ in range(2)
    ]
    listed = runner.invoke(app, ["token", "list", "--email", "bot@example.jp", "--format", "json"])
    assert listed.exit_code == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [r["prefix"] for r in rows] == [t[:10] for t in tokens]
    assert all(r["user"] == "bot@example.jp" and r["revoked_at"] is None for r in rows)
    assert not any(t in listed.stdout for t in tokens)  # only prefixes are ever shown

    revoked = runner.invoke(app, ["token", "revoke", tokens[0][:10]])

    assert revoked.exit_code == 0, revoked.stderr
    assert "revoked" in revoked.stdout and "bot@example.jp" in revoked.stdout
    with TestClient(create_app()) as client:

        def me(token: str) -> int:
            headers = {"Authorization": f"Bearer {token}"}
            return client.get("/api/v1/me", headers=headers).status_code

        assert me(tokens[0]) == 401
        assert me(tokens[1]) == 200  # the other token keeps working
    rows = json.loads(runner.invoke(app, ["token", "list", "--format", "json"]).stdout)
    assert [r["revoked_at"] is not None for r in rows] == [True, False]
    session.expire_all()
    entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry is not None and entry.action == "token.revoke"
    assert entry.after is not None and entry.after["prefix"] == tokens[0][:10]


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("kg_", "at least 7 characters"),
        ("kg_nope", "no active token"),
        ("kg_" + "x" * 40, "no active token"),
    ],
)
def test_revoking_an_unknown_token_changes_nothing(
    session: Session, prefix: str, message: str
) -> None:
    assert _user_add("--email", "bot@example.jp", "--role", "reviewer")[0] == 0
    token = runner.invoke(app, ["token", "create", "--email", "bot@example.jp"]).stdout.strip()
    before = _counts(session)

    result = runner.invoke(app, ["token", "revoke", prefix])

    assert result.exit_code == 2 and message in result.stderr
    assert _counts(session) == before
    assert session.scalars(select(ApiToken)).one().revoked_at is None
    # Revoking it twice: the second time there is no active token left.
    assert runner.invoke(app, ["token", "revoke", token]).exit_code == 0
    again = runner.invoke(app, ["token", "revoke", token])
    assert again.exit_code == 2 and "no active token" in again.stderr


def test_demo_admin_gets_a_fresh_password_each_run(session: Session) -> None:
    from kuchikomi.cli.demo import DEMO_ADMIN, _demo_admin_password
    from kuchikomi.services.accounts import check_password

    first = _demo_admin_password()
    second = _demo_admin_password()

    assert first != second
    assert check_password(session=session, email=DEMO_ADMIN, password=first, ip="t") is None
    user = check_password(session=session, email=DEMO_ADMIN, password=second, ip="t")
    assert user is not None and user.role == "admin"
    session.rollback()
    actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["user.create", "user.set_password"]
    assert first not in str(session.scalars(select(AuditEntry.after)).all())


def test_a_prefix_shared_by_two_active_tokens_is_refused(session: Session) -> None:
    assert _user_add("--email", "bot@example.jp", "--role", "reviewer")[0] == 0
    user = session.scalars(select(User)).one()
    # Two tokens whose shown prefixes share their first seven characters.
    session.add_all(
        [
            ApiToken(token_sha256="a" * 64, user_id=user.id, prefix="kg_AAAA111"),
            ApiToken(token_sha256="b" * 64, user_id=user.id, prefix="kg_AAAA222"),
        ]
    )
    session.commit()

    result = runner.invoke(app, ["token", "revoke", "kg_AAAA"])

    assert result.exit_code == 2 and "2 active tokens start with kg_AAAA" in result.stderr
    session.expire_all()
    assert all(t.revoked_at is None for t in session.scalars(select(ApiToken)))
    assert runner.invoke(app, ["token", "revoke", "kg_AAAA222"]).exit_code == 0
