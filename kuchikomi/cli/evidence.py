"""``kuchikomi evidence``: check evidence bundles (``verify``) and print the key they are signed
with (``public-key``)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from kuchikomi.cli.common import EXIT_FAILED, exit_code, fail, print_json

app = typer.Typer(
    help="Evidence bundles (zip of WARC, renderings, report, signed manifest).",
    no_args_is_help=True,
)


class VerifyFormat(StrEnum):
    text = "text"
    json = "json"


@app.command("verify")
def verify(
    file: Path = typer.Argument(..., help="An evidence bundle (.zip) as downloaded."),
    public_key: Path | None = typer.Option(
        None,
        "--public-key",
        help="The issuer's public key (PEM, from `kuchikomi evidence public-key`). Without it, "
        "this server's own key.",
    ),
    format: VerifyFormat = typer.Option(VerifyFormat.text, "--format", help="text or json."),
) -> None:
    """Check the signature of the bundle's manifest, then recompute every hash it lists (files,
    archived pages inside the WARC, the review text) and say which, if any, differ.

    Exit 0 when the signature and every hash hold, 1 when anything is invalid, differs, is missing
    or was added, 2 when FILE is not an evidence bundle or no key to verify with can be read.
    Works offline: a recipient needs only the bundle and the public key file.
    """
    from kuchikomi.services.evidence import BundleFormatError, load_public_key, verify_bundle

    if not file.is_file():
        fail(f"{file}: no such file")
    try:
        key = load_public_key(public_key) if public_key is not None else None
        with file.open("rb") as fh:
            checks = verify_bundle(fh, key)
    except BundleFormatError as exc:
        # Caught only to name the file; a SigningKeyError goes to the root group as it is.
        fail(f"{file}: {exc}", exit_code(exc))
    except OSError as exc:
        fail(f"{file}: cannot be read: {exc.strerror or exc}")

    if format is VerifyFormat.json:
        print_json(
            {
                "file": c.file,
                "status": c.status.value,
                "expected": c.expected,
                "actual": c.actual,
                "detail": c.detail,
            }
            for c in checks
        )
    else:
        for c in checks:
            typer.echo(f"{c.status.value:<9} {c.file}")
            if c.detail:
                typer.echo(f"          {c.detail}")
            if c.status.value == "MISMATCH":
                typer.echo(f"          expected {c.expected}\n          actual   {c.actual}")
        bad = [c for c in checks if not c.ok]
        if bad:
            typer.echo(f"{len(bad)} of {len(checks)} checks failed")
        else:
            typer.echo(f"signature valid; all {len(checks) - 1} hashes match the manifest")
    if not all(c.ok for c in checks):
        raise typer.Exit(EXIT_FAILED)


@app.command("public-key")
def public_key() -> None:
    """Print the public key (PEM) this server signs evidence bundles with, and its fingerprint.

    Give it to whoever receives bundles (a lawyer, a platform): with it they verify a bundle
    offline, `kuchikomi evidence verify FILE.zip --public-key KEY.pem`, or with openssl. The key
    pair is created on first use (docs/operations.md#evidence-signing-key).
    """
    from kuchikomi.services.evidence import server_public_key

    # A key that cannot be read (SigningKeyError) is reported by the root group, exit 2.
    key = server_public_key()
    typer.echo(key.pem, nl=False)
    typer.echo(f"# fingerprint {key.fingerprint}", err=True)
