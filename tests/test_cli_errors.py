"""The CLI's one mapping of service errors (kuchikomi/cli/common.py): a one-line ``error:`` on
stderr, nothing on stdout, and the exit code of docs/contracts.md — 2 for what the user asked
(an unknown id), 1 for a conflict with the stored state."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kuchikomi.cli import app
from kuchikomi.cli.common import EXIT_FAILED, EXIT_USAGE, exit_code
from kuchikomi.errors import (
    ClinicNotFound,
    Conflict,
    Forbidden,
    Invalid,
    ReviewNotFound,
    Throttled,
)

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["reviews", "list", "--clinic", "987654"], "clinic 987654 does not exist"),
        (["bursts", "list", "--clinic", "987654"], "no clinic with id 987654"),
        (["bursts", "detect", "--clinic", "987654"], "no clinic with id 987654"),
    ],
)
def test_unknown_clinic_exits_2_with_one_line(env: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == EXIT_USAGE == 2
    assert result.stdout == ""
    assert result.stderr.strip() == f"error: {message}"


def test_exit_codes_by_kind() -> None:
    assert exit_code(ReviewNotFound(1)) == exit_code(ClinicNotFound("x")) == EXIT_USAGE
    assert exit_code(Invalid("x")) == exit_code(Forbidden("x")) == EXIT_USAGE
    assert exit_code(Conflict("x")) == exit_code(Throttled("x")) == EXIT_FAILED == 1
