"""The example service files under deploy/ parse, and the commands they start exist and accept
the options they are given (docs/production.md)."""

from __future__ import annotations

import configparser
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kuchikomi.cli import app

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


def _unit(path: Path) -> configparser.ConfigParser:
    # systemd's own specifiers (%i) are not configparser interpolation.
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text("utf-8"), source=str(path))
    return parser


def _accepts(argv: list[str]) -> None:
    """``argv`` (program first) names a command that exists with options it accepts.

    ``--help`` goes last: the options before it are parsed (an unknown one fails with exit 2)
    but the command does not run.
    """
    program = Path(argv[0]).name
    if program == "kuchikomi":
        result = CliRunner().invoke(app, [*argv[1:], "--help"])
        assert result.exit_code == 0, (argv, result.output)
        assert "Usage" in result.output
    elif program == "scrapyd":
        done = subprocess.run(
            [sys.executable, "-m", "scrapyd", *argv[1:], "--help"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
    else:  # pragma: no cover - a new service must be covered here
        pytest.fail(f"no check for {program}")


def test_there_are_units_for_api_scheduler_scrapyd_and_upgrades() -> None:
    names = {path.name for path in UNITS}
    assert {
        "kuchikomi-api@.service",
        "kuchikomi-scheduler.service",
        "kuchikomi-scrapyd.service",
        "kuchikomi-db-upgrade.service",
    } <= names


@pytest.mark.parametrize("path", UNITS, ids=lambda path: path.name)
def test_systemd_unit_parses_and_its_command_exists(path: Path) -> None:
    unit = _unit(path)
    assert unit["Unit"]["Description"]
    service = unit["Service"]
    assert service["User"] == "kuchikomi"
    assert service["EnvironmentFile"] == "/etc/kuchikomi/kuchikomi.env"
    argv = shlex.split(service["ExecStart"].replace("%i", "8001"))
    _accepts(argv)
    if service.get("Type") != "oneshot":
        assert unit["Install"]["WantedBy"] == "multi-user.target"
        assert service["Restart"] == "on-failure"


def test_compose_file_parses_and_its_commands_exist() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text("utf-8"))
    services = compose["services"]
    assert {"postgres", "migrate", "api", "scheduler", "scrapyd", "nginx"} <= set(services)
    # Exactly one scheduler; several API workers.
    assert "deploy" not in services["scheduler"]
    assert services["api"]["deploy"]["replicas"] >= 2
    for name in ("migrate", "api", "scheduler", "scrapyd"):
        _accepts(services[name]["command"])
        assert services[name]["volumes"][0] == "data:/data"
        assert services[name]["environment"]["KUCHIKOMI_DATA_DIR"] == "/data"
    for mounted in ("./scrapyd.conf", "./nginx/compose.conf"):
        assert (DEPLOY / mounted).is_file()


def test_nginx_examples_proxy_to_the_api_over_https() -> None:
    for conf in ("kuchikomi.conf", "compose.conf"):
        text = (DEPLOY / "nginx" / conf).read_text("utf-8")
        assert "listen 443 ssl;" in text
        assert "proxy_pass http://kuchikomi_api;" in text
        # The API marks its session cookie Secure from this header.
        assert "proxy_set_header X-Forwarded-Proto $scheme;" in text
        assert text.count("{") == text.count("}")
