"""``kuchikomi classify``: one review text per input line → one JSON object per line.

Output per line is the contract of docs/contracts.md (text, label, category, harmful_probability,
flagged, reasons, model_version). Input is read as bytes and decoded line by line, so a line that is
not valid UTF-8 gets an error object ``{"line": n, "error": "..."}`` and the rest of the batch goes
on; the exit code is then 1 (the work ran but something failed). Other odd input is classified: an
empty line is ``benign`` with the reason 本文がありません; markup and control characters are ignored
for the analysis (the ``text`` field echoes the line as given); a text longer than 100,000
characters is analysed on its first 100,000 characters, in 4,000-character chunks, and takes the
score of its most harmful chunk.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

import typer

from kuchikomi.cli.common import EXIT_FAILED, fail

app = typer.Typer()

# Lines are classified in batches: large enough to amortise per-call overhead, small enough
# that output streams while a big file is still being read.
BATCH_LINES = 1000
# One encoder for every line: ``json.dumps`` with options builds a new one per call.
_encode = json.JSONEncoder(ensure_ascii=False).encode


class ClassifyFormat(StrEnum):
    jsonl = "jsonl"
    json = "json"


def _lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    for number, raw in enumerate(stream, 1):
        yield number, raw.rstrip(b"\n").rstrip(b"\r")


def _decode(number: int, raw: bytes) -> str | dict[str, Any]:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return {"line": number, "error": f"invalid UTF-8 at byte {exc.start}: {exc.reason}"}


@app.command("classify")
def classify(
    file: str = typer.Argument("-", help="File with one review text per line; - reads stdin."),
    format: ClassifyFormat = typer.Option(
        ClassifyFormat.jsonl, "--format", help="jsonl (one object per line) or json (one array)."
    ),
    model: Path | None = typer.Option(
        None, "--model", help="A .skops model file instead of the active model."
    ),
) -> None:
    """Classify review texts: harmful (with category), criticism or benign, with reasons."""
    from classifier import ModelLoadError, ModelNotFoundError, load_model
    from kuchikomi.services.classification import ensure_model

    try:
        classifier = load_model(model) if model else ensure_model(announce=True)
    except (ModelNotFoundError, ModelLoadError) as exc:
        fail(str(exc), EXIT_FAILED)

    if file == "-":
        stream: BinaryIO = sys.stdin.buffer
    else:
        try:
            stream = open(file, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            fail(f"cannot read {file}: {exc.strerror}")

    as_array = format == ClassifyFormat.json
    out = sys.stdout
    try:
        if as_array:
            first = True

            def write(line: str) -> None:
                nonlocal first
                out.write(("[\n" if first else ",\n") + line)
                first = False

            failed = classify_lines(classifier, _lines(stream), write)
            out.write("[]\n" if first else "\n]\n")
        else:

            def write_line(line: str) -> None:
                out.write(line + "\n")

            failed = classify_lines(classifier, _lines(stream), write_line)
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    out.flush()
    if failed:
        raise typer.Exit(EXIT_FAILED)


def classify_lines(
    classifier: Any, lines: Iterable[tuple[int, bytes]], write: Callable[[str], None]
) -> int:
    """The whole ``classify`` path: numbered raw lines in, one JSON text per line out (in input
    order), classified in batches. Returns how many lines got an error object instead of a
    classification. Also what bench/classify_speed.py times."""
    failed = 0

    def emit(obj: dict[str, Any]) -> None:
        write(_encode(obj))

    batch: list[tuple[int, str | dict[str, Any]]] = []
    for number, raw in lines:
        batch.append((number, _decode(number, raw)))
        if len(batch) >= BATCH_LINES:
            failed += _flush(classifier, batch, emit)
            batch = []
    failed += _flush(classifier, batch, emit)
    return failed


def _flush(classifier: Any, batch: list[tuple[int, str | dict[str, Any]]], emit: Any) -> int:
    texts = [item for _, item in batch if isinstance(item, str)]
    try:
        results: list[Any] = classifier.classify(texts)
    except Exception:  # noqa: BLE001 - find the offending line instead of losing the batch
        results = [_one(classifier, text) for text in texts]
    outcomes = iter(results)
    failed = 0
    for number, item in batch:
        outcome = next(outcomes) if isinstance(item, str) else item
        if isinstance(outcome, Exception):
            failed += 1
            emit({"line": number, "error": f"classification failed: {outcome}"})
        elif isinstance(outcome, dict):
            failed += 1
            emit(outcome)
        else:
            emit(outcome.to_dict())
    return failed


def _one(classifier: Any, text: str) -> Any:
    try:
        return classifier.classify([text])[0]
    except Exception as exc:  # noqa: BLE001 - reported as this line's error object
        return exc
