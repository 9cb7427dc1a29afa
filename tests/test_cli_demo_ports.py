"""`make demo` / `kuchikomi demo` with a port already taken: refused at once, naming the port and
how to choose another, before any work (no database, no crawl)."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live_app import free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something else is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield int(sock.getsockname()[1])


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _demo(*args: str, data_dir: Path) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """The demo's result, its wall-clock seconds and the CPU seconds it (and what it waited
    for) used."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("KUCHIKOMI_")}
    command = [sys.executable, "-c", "from kuchikomi.cli import main; main()", "demo"]
    started, cpu_before = time.monotonic(), _cpu_of_children()
    result = subprocess.run(
        [*command, *args, "--data-dir", str(data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result, time.monotonic() - started, _cpu_of_children() - cpu_before


@pytest.mark.parametrize("which", ["--port", "--portal-port"])
def test_a_busy_port_is_named_at_once_and_nothing_is_done(
    which: str, busy_port: int, tmp_path: Path
) -> None:
    other = "--portal-port" if which == "--port" else "--port"
    data_dir = tmp_path / "demo"

    result, seconds, cpu_seconds = _demo(
        which, str(busy_port), other, str(free_port()), data_dir=data_dir
    )

    assert result.returncode == 1
    line = result.stderr.strip().splitlines()[-1]
    name = "staff UI" if which == "--port" else "demo review portal"
    option = "PORT" if which == "--port" else "PORTAL_PORT"
    assert f"port {busy_port} (the {name}) is not available" in line, result.stderr
    assert f"make demo {option}={busy_port + 1}" in line
    # Before any work: no database was made (the old demo crawled for ~50 s first).
    assert not (data_dir / "kuchikomi.db").exists()
    # Starting Python and importing the CLI included; the check itself takes milliseconds. CPU
    # time, not wall-clock time, is what is bounded: on a busy machine (other jobs, or the
    # other pytest-xdist worker) the wall clock says more about the machine than the demo.
    print(f"refused in {seconds:.2f} s ({cpu_seconds:.2f} s CPU)")
    assert cpu_seconds < 5, (seconds, cpu_seconds)


def test_make_demo_passes_the_chosen_ports() -> None:
    dry_run = subprocess.run(
        ["make", "-n", "demo", "PORT=8123", "PORTAL_PORT=8124"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "kuchikomi demo --port 8123 --portal-port 8124" in dry_run.stdout
    default = subprocess.run(
        ["make", "-n", "demo"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "kuchikomi demo --port 8000 --portal-port 8765" in default.stdout
