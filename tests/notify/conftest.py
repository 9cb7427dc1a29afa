"""A real SMTP server (aiosmtpd) and a webhook receiver on 127.0.0.1, with settings for them."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from kuchikomi_settings import get_settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Mailbox:
    """What the SMTP server accepted: envelope recipients and the parsed messages."""

    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    port: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


@pytest.fixture
def mailbox(env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    box = Mailbox(port=free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    monkeypatch.setenv("KUCHIKOMI_NOTIFY__SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("KUCHIKOMI_NOTIFY__SMTP_PORT", str(box.port))
    monkeypatch.setenv("KUCHIKOMI_NOTIFY__MAIL_FROM", "guard@kuchikomi.example.jp")
    monkeypatch.setenv("KUCHIKOMI_NOTIFY__BASE_URL", "https://guard.example.jp")
    get_settings.cache_clear()
    yield box
    controller.stop()


@dataclass
class WebhookReceiver:
    """Records each POST; answers ``status`` (set it to 500 to play a broken receiver)."""

    url: str = ""
    status: int = 204
    bodies: list[dict[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
def webhook(env: Path) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            receiver.raw.append(body)
            receiver.headers.append({k.lower(): v for k, v in self.headers.items()})
            receiver.bodies.append(json.loads(body))
            self.send_response(receiver.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    receiver.url = f"http://{host}:{port}/hooks/kuchikomi"
    yield receiver
    server.shutdown()
    server.server_close()


def text_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())
