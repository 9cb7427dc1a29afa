"""The real app under uvicorn on 127.0.0.1, for tests that need real HTTP and real concurrency
(the OpenAPI fuzz, parallel logins). Its settings are those of ``env`` (same database, same data
directory)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import settings_environ


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_app(db_url: str, data_dir: Path, *, workers: int = 1) -> Iterator[str]:
    """Start ``api.app:create_app`` under uvicorn; yields its base URL, stops it afterwards."""
    port = free_port()
    log = data_dir.parent / f"uvicorn-{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    if workers > 1:
        command += ["--workers", str(workers)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            env={**os.environ, **settings_environ(db_url, data_dir)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None, log.read_text("utf-8", "replace")
                assert time.monotonic() < deadline, "the app did not start"
                time.sleep(0.1)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=15)


def server_log(data_dir: Path) -> str:
    """Everything the servers started for ``data_dir`` wrote (tracebacks of 500s included)."""
    return "\n".join(
        p.read_text("utf-8", "replace") for p in sorted(data_dir.parent.glob("uvicorn-*.log"))
    )
