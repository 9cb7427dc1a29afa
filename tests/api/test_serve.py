"""``kuchikomi serve``: a real uvicorn process answering on loopback; a warning elsewhere."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from kuchikomi.cli import app
from kuchikomi.cli.serve import is_loopback
from kuchikomi.services.accounts import create_token, create_user
from kuchikomi_settings import get_settings
from models.db import reset_engine
from tests.api.factories import make_clinic, make_review
from tests.live_app import free_port

runner = CliRunner()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.53", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("clinic.example.jp", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_non_loopback_host_prints_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An unmigrated database makes serve stop right after its checks, so nothing is bound here.
    monkeypatch.setenv("KUCHIKOMI_DATABASE_URL", f"sqlite:///{tmp_path}/empty.db")
    get_settings.cache_clear()
    reset_engine()
    try:
        public = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--port", "8000"])
        local = runner.invoke(app, ["serve", "--host", "127.0.0.1", "--port", "8000"])
    finally:
        get_settings.cache_clear()
        reset_engine()
    assert "warning: listening on 0.0.0.0" in public.stderr
    assert "HTTPS" in public.stderr
    assert "warning: listening" not in local.stderr
    for result in (public, local):
        assert result.exit_code == 1
        assert "kuchikomi db upgrade" in result.stderr


@pytest.mark.slow  # starts `kuchikomi serve` in a subprocess
def test_serve_answers_on_loopback_by_default(session: Session) -> None:
    listing = make_clinic(session, "ゆうき整形外科").listings[0]
    make_review(session, listing, text="受付が失礼", probability=0.75, category="insult")
    user = create_user(session=session, email="a@example.jp", role="admin", password="x" * 12)
    auth = {"Authorization": f"Bearer {create_token(session=session, user=user)}"}
    session.commit()
    port = free_port()
    command = [sys.executable, "-c", "from kuchikomi.cli import main; main()", "serve"]
    process = subprocess.Popen(
        [*command, "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[1].decode()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert health.status_code == 200
        assert httpx.get(f"{base}/", timeout=5).status_code == 303  # to the login page
        page = httpx.get(f"{base}/", headers=auth, timeout=5)
        assert "ゆうき整形外科" in page.text and "受付が失礼" in page.text
        assert "content-security-policy" in page.headers
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=15)
    assert f"http://127.0.0.1:{port}/" in stderr.decode()
    assert "warning: listening" not in stderr.decode()


@pytest.mark.slow  # starts `kuchikomi serve --workers 2` in a subprocess
def test_serve_runs_several_workers(session: Session) -> None:
    listing = make_clinic(session, "あさひ眼科").listings[0]
    make_review(session, listing, text="説明が雑", probability=0.8, category="insult")
    user = create_user(session=session, email="w@example.jp", role="reviewer", password="x" * 12)
    auth = {"Authorization": f"Bearer {create_token(session=session, user=user)}"}
    session.commit()
    port = free_port()
    command = [sys.executable, "-c", "from kuchikomi.cli import main; main()", "serve"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[1].decode()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        # Every worker answers from the shared database (new connections each).
        with httpx.Client(base_url=base, headers=auth, timeout=10) as client:
            for _ in range(10):
                items = client.get("/api/v1/reviews?flagged=true").json()["items"]
                assert [i["text"] for i in items] == ["説明が雑"]
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert "Started parent process" in stderr.decode()
