"""``kuchikomi notify add/list/test/send/remove`` as an operator uses them."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from kuchikomi.cli import app
from kuchikomi_settings import get_settings
from models import NotificationSubscription
from tests.api.factories import make_clinic, make_review
from tests.notify.conftest import Mailbox, free_port, text_part


def kuchikomi(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_add_list_test_send_remove(
    session: Session, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    clinic = make_clinic(session, "さくら内科クリニック")
    code, out, err = kuchikomi(
        "notify", "add", "--email", "doc@sakura.example.jp", "--clinic", str(clinic.id)
    )
    assert code == 0, err
    sid = int(out)

    code, out, _ = kuchikomi("notify", "list", "--format", "json")
    (row,) = json.loads(out)
    assert row["id"] == sid and row["name"] == "さくら内科クリニック"
    assert (row["channel"], row["target"], row["clinic_id"], row["role"]) == (
        "email",
        "doc@sakura.example.jp",
        clinic.id,
        None,
    )
    assert row["last_status"] is None

    code, out, err = kuchikomi("notify", "test", str(sid))
    assert code == 0, err
    assert "sent" in out
    assert mailbox.messages[0]["Subject"] == "[口コミガード] 通知のテスト"

    code, out, _ = kuchikomi("notify", "send")
    assert (code, out.strip()) == (0, "nothing new to send")
    make_review(session, clinic.listings[0], text="院長は裏金を作っている", probability=0.9)
    code, out, err = kuchikomi("notify", "send")
    assert code == 0, err
    assert f"subscription {sid} (email): sent, 1 reviews, 0 bursts" in out
    assert "裏金" in text_part(mailbox.messages[1])

    # The relay is down: `test` says so and exits 1.
    monkeypatch.setenv("KUCHIKOMI_NOTIFY__SMTP_PORT", str(free_port()))
    get_settings.cache_clear()
    code, _, err = kuchikomi("notify", "test", str(sid))
    assert code == 1
    assert "delivery failed" in err and "ConnectionRefusedError" in err
    code, out, _ = kuchikomi("notify", "list", "--format", "json")
    assert json.loads(out)[0]["last_status"] == "failed"

    code, out, _ = kuchikomi("notify", "remove", str(sid))
    assert code == 0
    code, out, _ = kuchikomi("notify", "list", "--format", "json")
    assert json.loads(out) == []


@pytest.mark.parametrize(
    "args",
    [
        ["notify", "add", "--role", "admin"],
        ["notify", "add", "--email", "a@x.jp", "--webhook", "http://x.jp/", "--role", "admin"],
        ["notify", "add", "--email", "a@x.jp"],
        ["notify", "add", "--email", "a@x.jp", "--role", "clinic"],
        ["notify", "add", "--email", "a@x.jp", "--clinic", "999999"],
        ["notify", "add", "--webhook", "file:///etc/passwd", "--role", "admin"],
        ["notify", "test", "999999"],
        ["notify", "remove", "999999"],
    ],
)
def test_bad_usage_exits_2_and_stores_nothing(session: Session, args: list[str]) -> None:
    code, _, err = kuchikomi(*args)
    assert code == 2, err
    assert session.scalar(select(func.count()).select_from(NotificationSubscription)) == 0
