"""CLI tables stay readable piped and on an 80-column terminal: one line per row, short values
(ids, dates, names) whole; and ``--format``'s help says what the CSV holds."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from rich.cells import cell_len
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from kuchikomi.cli import app
from kuchikomi.cli.reviews import TABLE_COLUMNS
from tests.api.factories import make_clinic, make_review
from tests.conftest import settings_environ

runner = CliRunner()

LONG = (
    "受付の対応がひどく、待ち時間も二時間を超えました。\n院長の説明も足りません。\t"
    "二度と行きません。" * 3
)


def _reviews(session: Session) -> list[int]:
    clinic = make_clinic(session, "さくら内科クリニック")
    return [
        make_review(session, clinic.listings[0], text=LONG, probability=0.9, category="insult").id,
        make_review(session, clinic.listings[0], text="普通", probability=0.1).id,
    ]


def test_piped_table_is_one_tab_separated_line_per_review(session: Session) -> None:
    ids = _reviews(session)

    result = runner.invoke(app, ["reviews", "list"], env={"COLUMNS": "80"})

    assert result.exit_code == 0, result.output
    title, header, *lines = result.stdout.splitlines()
    assert title == "# reviews"
    assert header.split("\t") == TABLE_COLUMNS
    rows = [line.split("\t") for line in lines]
    assert [int(r[0]) for r in rows] == sorted(ids, reverse=True)
    for row in rows:
        assert len(row) == len(TABLE_COLUMNS)
        assert row[1] == "さくら内科クリニック" and row[2] == "2025-03-04"
    assert rows[1][-1].startswith("受付の対応がひどく、待ち時間も二時間を超えました。 院長")


def _run_in_terminal(args: list[str], environ: dict[str, str], columns: int) -> str:
    """Run the CLI with a pseudo-terminal as its output (what a person at a terminal sees)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-c", "from kuchikomi.cli import main; main()", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**environ, "COLUMNS": str(columns), "LINES": "50", "TERM": "xterm"},
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=60)
    os.close(leader)
    text = b"".join(chunks).decode("utf-8")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).replace("\r\n", "\n")


def test_table_at_an_80_column_terminal_keeps_each_review_on_one_line(
    session: Session, db_url: str, env: Path
) -> None:
    ids = _reviews(session)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("KUCHIKOMI_")}
    environ.update(settings_environ(db_url, env))

    out = _run_in_terminal(["reviews", "list"], environ, 80)

    lines = out.splitlines()
    assert all(cell_len(line) <= 80 for line in lines), out
    for review_id in ids:
        matching = [ln for ln in lines if re.match(rf"^{review_id}  ", ln)]
        assert len(matching) == 1, out
        line = matching[0]
        # Ids and dates are whole on the review's own line; a long name is cut, not wrapped.
        assert "さくら内科" in line and "2025-03-04" in line, out
    rows = [ln for ln in lines if re.match(r"^\d+  ", ln)]
    assert len(rows) == len(ids), out  # one line per review
    assert re.match(r"^id +clinic +posted +author +category +prob +flag +text", lines[1]), out
    assert "--format json or csv shows every value" in out


def test_format_help_says_what_the_csv_holds() -> None:
    result = runner.invoke(app, ["reviews", "list", "--help"], env={"COLUMNS": "200"})

    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "UTF-8 without BOM" in text and "ISO 8601 UTC" in text
    assert "staff page's CSV export" in text
