"""``kuchikomi evidence``: check evidence bundles (``verify``)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from kuchikomi.cli.common import EXIT_FAILED, fail, print_json

app = typer.Typer(help="Evidence bundles (zip of WARC, report and manifest).", no_args_is_help=True)


class VerifyFormat(StrEnum):
    text = "text"
    json = "json"


@app.command("verify")
def verify(
    file: Path = typer.Argument(..., help="An evidence bundle (.zip) as downloaded."),
    format: VerifyFormat = typer.Option(VerifyFormat.text, "--format", help="text or json."),
) -> None:
    """Recompute every hash in an evidence bundle and say which, if any, differ.

    Exit 0 when every file and every archived page matches the manifest, 1 when any differs, is
    missing or was added, 2 when FILE is not an evidence bundle.
    """
    from kuchikomi.services.evidence import BundleFormatError, verify_bundle

    if not file.is_file():
        fail(f"{file}: no such file")
    try:
        with file.open("rb") as fh:
            checks = verify_bundle(fh)
    except BundleFormatError as exc:
        fail(f"{file}: {exc}")
    except OSError as exc:
        fail(f"{file}: cannot be read: {exc.strerror or exc}")

    if format is VerifyFormat.json:
        print_json(
            {"file": c.file, "status": c.status.value, "expected": c.expected, "actual": c.actual}
            for c in checks
        )
    else:
        for c in checks:
            typer.echo(f"{c.status.value:<9} {c.file}")
            if c.status.value == "MISMATCH":
                typer.echo(f"          expected {c.expected}\n          actual   {c.actual}")
        bad = [c for c in checks if not c.ok]
        if bad:
            typer.echo(f"{len(bad)} of {len(checks)} checks differ from the manifest")
        else:
            typer.echo(f"all {len(checks)} hashes match the manifest")
    if not all(c.ok for c in checks):
        raise typer.Exit(EXIT_FAILED)
