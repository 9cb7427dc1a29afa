"""Arguments a user may get wrong in odd ways get a plain error, never a traceback.

Ids beyond the database's integers are refused by the CLI before any query.

PostgreSQL's INTEGER stops at 2,147,483,647: a larger clinic or subscription id used to reach the
database and end in a traceback (exit 1) there, while SQLite answered "not found". Every command
that takes an id now refuses it as bad usage (exit 2) on both backends.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kuchikomi.cli import app

runner = CliRunner()
TOO_BIG = "2147483648"


@pytest.mark.parametrize(
    "args",
    [
        ["reviews", "list", "--clinic", TOO_BIG],
        ["bursts", "list", "--clinic", TOO_BIG],
        ["bursts", "detect", "--clinic", TOO_BIG],
        ["crawl", "--clinic", TOO_BIG],
        ["notify", "add", "--clinic", TOO_BIG, "--email", "staff@example.jp"],
        ["notify", "remove", TOO_BIG],
        ["notify", "test", TOO_BIG],
        ["google", "locations", TOO_BIG],
        [
            "clinic",
            "add",
            "--name",
            "x",
            "--google-location",
            "accounts/1/locations/2",
            "--connection",
            TOO_BIG,
        ],
        [
            "user",
            "add",
            "--email",
            "c@example.jp",
            "--role",
            "clinic",
            "--clinic",
            TOO_BIG,
            "--password-stdin",
        ],
        ["user", "set-role", "c@example.jp", "clinic", "--clinic", TOO_BIG],
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_an_id_beyond_the_database_integers_is_bad_usage(env: Path, args: list[str]) -> None:
    result = runner.invoke(app, args, input="a-long-password\n")
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "2147483647" in result.output  # the message names the allowed range
    assert "Traceback" not in result.output


def test_an_error_message_quoting_the_users_input_prints_it_as_written(
    env: Path, tmp_path: Path
) -> None:
    # Square brackets are Rich markup: "[/]" alone made the error printer itself raise.
    missing = tmp_path / "export [/] [bold]2024.jsonl"
    result = runner.invoke(app, ["reviews", "import", str(missing)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert str(missing) in " ".join(result.stderr.split())
