"""After a real crawl (demo portal, Scrapy subprocess, trained classifier) subscribers are told,
once; a broken webhook does not fail the crawl and gets its news on the next one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kuchikomi.cli import app
from kuchikomi.demo.portal import DemoPortal, listing_urls, serve
from tests.crawler.conftest import PORTAL_TODAY
from tests.notify.conftest import Mailbox, WebhookReceiver, text_part


@pytest.fixture
def portal(model_env: Path) -> Iterator[str]:
    with serve(DemoPortal(today=PORTAL_TODAY)) as base_url:
        yield base_url


def kuchikomi(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_crawl_notifies_subscribers_once_and_survives_a_broken_webhook(
    portal: str, mailbox: Mailbox, webhook: WebhookReceiver
) -> None:
    clinic_ids = []
    for name, url in listing_urls(portal):
        code, out, err = kuchikomi("clinic", "add", "--name", name, "--url", url)
        assert code == 0, err
        clinic_ids.append(int(out))
    code, out, err = kuchikomi(
        "notify", "add", "--email", "staff@med.example.jp", "--role", "admin"
    )
    assert code == 0, err
    mail_id = int(out)
    code, out, err = kuchikomi(
        "notify", "add", "--webhook", webhook.url, "--clinic", str(clinic_ids[0])
    )
    assert code == 0, err
    hook_id = int(out)
    webhook.status = 503

    code, out, err = kuchikomi("crawl", "--all", "--format", "json")

    assert code == 0, err  # the broken webhook does not fail the crawl
    run = json.loads(out)
    outcomes = {n["subscription_id"]: n for n in run["notifications"]}
    assert outcomes[mail_id]["status"] == "sent"
    assert outcomes[hook_id]["status"] == "failed"
    assert outcomes[hook_id]["error"] == "RuntimeError: webhook answered HTTP 503"
    code, out, _ = kuchikomi("reviews", "list", "--flagged", "--format", "json")
    flagged = json.loads(out)
    assert outcomes[mail_id]["reviews"] == len(flagged) > 0
    (message,) = mailbox.messages
    body = text_part(message)
    assert "ただじゃおかない" in body  # the demo's threat
    assert "二度と行きません" not in body  # legitimate criticism is not news

    code, out, _ = kuchikomi("notify", "list", "--format", "json")
    listed = {s["id"]: s for s in json.loads(out)}
    assert listed[hook_id]["last_status"] == "failed"
    assert "503" in listed[hook_id]["last_error"]

    # The webhook is repaired; the next crawl finds nothing new on the portal, so the mail
    # subscriber hears nothing again and the webhook gets exactly what it missed.
    webhook.status = 204
    code, out, err = kuchikomi("crawl", "--all", "--format", "json")
    assert code == 0, err
    run = json.loads(out)
    assert [(n["subscription_id"], n["status"]) for n in run["notifications"]] == [
        (hook_id, "sent")
    ]
    assert len(mailbox.messages) == 1
    delivered = webhook.bodies[-1]["reviews"]
    assert delivered and {r["clinic_id"] for r in delivered} == {clinic_ids[0]}
    assert len(delivered) == len([r for r in flagged if r["clinic_id"] == clinic_ids[0]])
