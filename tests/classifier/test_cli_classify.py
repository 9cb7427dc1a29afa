"""``kuchikomi classify``: the JSONL contract (docs/contracts.md), and one result or error per
input line whatever the line holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from kuchikomi.cli import app

runner = CliRunner()

CONTRACT = {
    "text": str,
    "label": str,
    "category": (str, type(None)),
    "harmful_probability": float,
    "flagged": bool,
    "reasons": list,
    "model_version": str,
}


def _jsonl(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_one_object_per_line_with_exactly_the_contract_fields(
    model_path: Path, tmp_path: Path
) -> None:
    source = tmp_path / "reviews.txt"
    source.write_text(
        "院長、夜道に気をつけろよ\n待ち時間が長くて最悪。二度と行かない\n親切な先生でした\n",
        encoding="utf-8",
    )

    result = runner.invoke(app, ["classify", str(source)])

    assert result.exit_code == 0, result.output
    rows = _jsonl(result.stdout)
    assert [r["text"] for r in rows] == source.read_text(encoding="utf-8").splitlines()
    for row in rows:
        assert list(row) == list(CONTRACT)
        for key, kind in CONTRACT.items():
            assert isinstance(row[key], kind), (key, row)
        assert row["label"] in ("harmful", "criticism", "benign")
        assert 0.0 <= row["harmful_probability"] <= 1.0
        assert all(isinstance(r, str) and r for r in row["reasons"])
        assert row["model_version"] == model_path.stem
    threat, criticism, praise = rows
    assert threat["flagged"] and threat["label"] == "harmful" and threat["category"] == "threat"
    assert criticism["label"] == "criticism" and criticism["category"] is None
    assert praise["label"] == "benign" and not praise["flagged"]


def test_bad_lines_get_their_own_result_or_error_and_the_batch_goes_on(
    model_path: Path, tmp_path: Path
) -> None:
    lines = [
        b"",
        ("\u3042" * 100_000).encode("utf-8"),
        "😀😀😀🙏✨".encode(),
        '<div class="r">受付が<b>最悪</b>&amp;不親切</div><script>x()</script>'.encode(),
        "待ち時間\x00が\x07長い\x1b[31m\u200b".encode(),
        b"\xff\xfe\x80 not utf-8 \xe3\x81",
        "院長の家を燃やしてやる".encode(),
    ]
    source = tmp_path / "odd.txt"
    source.write_bytes(b"\n".join(lines) + b"\n")

    result = runner.invoke(app, ["classify", str(source), "--format", "jsonl"])

    # Every line answered, in order; the exit code says that one line failed.
    assert result.exit_code == 1, result.output
    rows = _jsonl(result.stdout)
    assert len(rows) == len(lines)
    empty, huge, emoji, html, control, invalid, threat = rows
    assert empty["label"] == "benign" and empty["reasons"] == ["本文がありません"]
    assert len(huge["text"]) == 100_000 and huge["label"] in ("benign", "criticism")
    assert emoji["label"] == "benign" and not emoji["flagged"]
    assert html["text"] == lines[3].decode() and html["label"] == "criticism"
    assert control["text"] == lines[4].decode() and control["label"] == "criticism"
    assert invalid == {"line": 6, "error": "invalid UTF-8 at byte 0: invalid start byte"}
    assert threat["flagged"] and threat["category"] == "threat"


def test_json_format_prints_one_array(model_path: Path) -> None:
    result = runner.invoke(app, ["classify", "-", "--format", "json"], input="最悪\n良い\n")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [d["text"] for d in data] == ["最悪", "良い"]


def test_missing_file_is_a_usage_error(model_path: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["classify", str(tmp_path / "nope.txt")])

    assert result.exit_code == 2
    assert "cannot read" in result.output


def test_console_script_reads_stdin_bytes(model_path: Path) -> None:
    kuchikomi = Path(sys.executable).with_name("kuchikomi")
    env = dict(os.environ)

    done = subprocess.run(
        [str(kuchikomi), "classify"],
        input="受付の態度が悪い\n".encode() + b"\xc3\x28\n" + "ありがとうございました\n".encode(),
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )

    assert done.returncode == 1, done.stderr.decode()
    rows = _jsonl(done.stdout.decode("utf-8"))
    assert [r.get("label") or r.get("error") for r in rows] == [
        "criticism",
        "invalid UTF-8 at byte 0: invalid continuation byte",
        "benign",
    ]
