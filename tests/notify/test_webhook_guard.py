"""Webhooks go to public addresses only (issue 12, item 10): the crawler's address guard applies
when a webhook is subscribed and again whenever one is posted to (literal addresses, DNS answers,
redirects). The other notification tests post to 127.0.0.1 because the test settings allow
private hosts (``KUCHIKOMI_ALLOW_PRIVATE_HOSTS=true``, as for crawls); these turn that off."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from kuchikomi.cli import app as cli
from kuchikomi.services.notifications import (
    SubscriptionError,
    add_subscription,
    notify_subscribers,
    send_test,
)
from kuchikomi_settings import get_settings
from models import NotificationDelivery, NotificationSubscription
from tests.api.factories import make_clinic, make_review
from tests.notify.conftest import WebhookReceiver


def _forbid_private_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUCHIKOMI_ALLOW_PRIVATE_HOSTS", "false")
    get_settings.cache_clear()


def _name_for_loopback() -> str:
    """A host name (not "localhost", which is refused by name) that resolves to 127.0.0.1 here:
    the machine's own name in /etc/hosts."""
    name = socket.gethostname()
    try:
        if socket.gethostbyname(name).startswith("127."):
            return name
    except OSError:
        pass
    pytest.skip(f"the machine's name {name!r} does not resolve to a loopback address")


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata endpoint
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://10.0.0.5/hook",
        "http://[::ffff:169.254.169.254]/",
    ],
)
def test_webhooks_to_private_addresses_are_refused_when_subscribing(
    session: Session, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    _forbid_private_hosts(monkeypatch)
    clinic = make_clinic(session)
    with pytest.raises(SubscriptionError, match="webhook refused"):
        add_subscription(session=session, channel="webhook", target=url, clinic_id=clinic.id)
    session.rollback()
    command = ["notify", "add", "--webhook", url, "--clinic", str(clinic.id)]
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 2
    assert "private" in result.output
    assert session.scalar(select(func.count(NotificationSubscription.id))) == 0


def test_a_host_name_resolving_to_a_private_address_is_refused_when_subscribing(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    _forbid_private_hosts(monkeypatch)
    name = _name_for_loopback()
    with pytest.raises(SubscriptionError, match="resolves to private 127"):
        add_subscription(
            session=session, channel="webhook", target=f"http://{name}:8080/h", role="admin"
        )


def test_posting_checks_again_literal_and_resolved_addresses(
    session: Session, webhook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Subscriptions stored while private hosts were allowed (or before this check existed) are
    refused at delivery: nothing reaches the receiver, the failure is recorded."""
    clinic = make_clinic(session)
    port = webhook.url.split(":")[2].split("/")[0]
    by_name = webhook.url.replace("127.0.0.1", _name_for_loopback())
    assert by_name != webhook.url
    for target in (webhook.url, by_name):
        add_subscription(session=session, channel="webhook", target=target, clinic_id=clinic.id)
    session.add(  # as stored by the code before the guard
        NotificationSubscription(
            name="metadata",
            channel="webhook",
            target="http://169.254.169.254/latest/meta-data/",
            clinic_id=clinic.id,
            active=True,
        )
    )
    session.commit()
    make_review(session, clinic.listings[0], text="ゴミ病院", probability=0.8)
    _forbid_private_hosts(monkeypatch)

    outcomes = notify_subscribers()

    assert [o.status for o in outcomes] == ["failed", "failed", "failed"]
    assert all("private" in (o.error or "") for o in outcomes), outcomes
    assert webhook.bodies == []
    assert f":{port}" in by_name
    test = send_test(subscription_id=outcomes[0].subscription_id)
    assert test.status == "failed" and "private 127.0.0.1" in (test.error or "")
    assert webhook.bodies == []
    session.expire_all()
    assert session.scalar(select(func.count(NotificationDelivery.id))) == 4


@pytest.fixture
def redirecting_webhook(webhook: WebhookReceiver) -> Iterator[str]:
    """A webhook answering 307 towards the cloud metadata address."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(307)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_a_redirect_is_not_followed(session: Session, redirecting_webhook: str) -> None:
    """The first hop is allowed here (private hosts allowed, as in the demo); its redirect to
    a private address is still never followed: the delivery fails saying why."""
    clinic = make_clinic(session)
    add_subscription(
        session=session, channel="webhook", target=redirecting_webhook, clinic_id=clinic.id
    )
    session.commit()
    make_review(session, clinic.listings[0], text="ゴミ病院", probability=0.8)

    (outcome,) = notify_subscribers()

    assert outcome.status == "failed"
    assert "HTTP 307" in (outcome.error or "") and "not followed" in (outcome.error or "")
