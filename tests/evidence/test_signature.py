"""Signed evidence (issue 12, item 7): a forger who rewrites the archived page and updates the
manifest's hashes, or edits the manifest alone, is caught by the signature; a recipient verifies a
genuine bundle offline with nothing but the public key file."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from kuchikomi.cli import app
from kuchikomi.services.evidence import (
    MANIFEST_NAME,
    SIGNATURE_NAME,
    WARC_NAME,
    build_bundle,
)
from kuchikomi.services.evidence.signing import KEY_FILE
from kuchikomi_settings import get_settings
from tests.api.factories import make_clinic, make_review
from tests.evidence.warcs import Page, archive_pages, sight, write_warc

runner = CliRunner()
TEXT = "院長は患者の個人情報を横流ししているらしい。"


def _bundle(session: Session, data_dir: Path, tmp_path: Path) -> tuple[Path, str]:
    clinic = make_clinic(session)
    listing = clinic.listings[0]
    review = make_review(session, listing, text=TEXT, author="通りすがり")
    records = archive_pages(
        session,
        data_dir,
        [Page(url=listing.url, body=f"<p>{TEXT}</p>".encode())],
        listing_id=listing.id,
    )
    sight(session, review, *records)
    path = tmp_path / "bundle.zip"
    path.write_bytes(build_bundle(session=session, review_id=review.id).content)
    return path, records[0].warc_record_id


def _files(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _write(path: Path, files: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)


def _public_key_file(tmp_path: Path, name: str = "issuer.pem") -> Path:
    result = runner.invoke(app, ["evidence", "public-key"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    path = tmp_path / name
    path.write_text(result.stdout)
    return path


def _verify(path: Path, *extra: str) -> tuple[int, list[str]]:
    result = runner.invoke(app, ["evidence", "verify", str(path), *extra])
    return result.exit_code, result.stdout.splitlines()


def test_rewritten_page_with_updated_hashes_fails_on_the_signature(
    session: Session, env: Path, tmp_path: Path
) -> None:
    path, record_id = _bundle(session, env, tmp_path)
    files = _files(path)
    manifest = json.loads(files[MANIFEST_NAME])

    # The forger rewrites the review inside the WARC (same record id, a valid WARC) and the
    # review in the manifest, and updates every hash the manifest lists to match.
    forged_text = "とても親切な医院です。"
    page = Page(
        url=manifest["captures"][0]["url"],
        body=f"<p>{forged_text}</p>".encode(),
        record_id=record_id,
    )
    write_warc(env, "forged.warc.gz", [page])
    files[WARC_NAME] = (env / "forged.warc.gz").read_bytes()
    manifest["files"][WARC_NAME] = hashlib.sha256(files[WARC_NAME]).hexdigest()
    manifest["captures"][0]["payload_sha256"] = hashlib.sha256(page.body).hexdigest()
    manifest["review"]["text"] = forged_text
    manifest["review"]["text_sha256"] = hashlib.sha256(forged_text.encode()).hexdigest()
    files[MANIFEST_NAME] = json.dumps(manifest, ensure_ascii=False, indent=2).encode()
    _write(path, files)

    code, lines = _verify(path, "--public-key", str(_public_key_file(tmp_path)))
    assert code == 1, lines
    # Every hash now agrees with the forged manifest; the signature is what names the forgery.
    assert lines[0] == f"INVALID   {SIGNATURE_NAME}"
    assert "the manifest was changed after the server signed it" in lines[1]
    assert f"OK        {WARC_NAME}" in lines
    assert f"OK        {WARC_NAME}#{record_id}" in lines
    assert f"OK        {MANIFEST_NAME}#review.text" in lines
    assert lines[-1].startswith("1 of ")


def test_manifest_edited_alone_fails(session: Session, env: Path, tmp_path: Path) -> None:
    path, _ = _bundle(session, env, tmp_path)
    files = _files(path)
    # The poster's name changed in the manifest, nothing else.
    files[MANIFEST_NAME] = files[MANIFEST_NAME].replace("通りすがり".encode(), "別の人".encode())
    _write(path, files)
    code, lines = _verify(path)
    assert code == 1
    assert lines[0] == f"INVALID   {SIGNATURE_NAME}"

    # The review text edited in the manifest without its hash: both are named.
    files = _files(path)
    files[MANIFEST_NAME] = files[MANIFEST_NAME].replace(TEXT.encode(), "とても良い医院".encode())
    _write(path, files)
    code, lines = _verify(path)
    assert code == 1
    assert f"INVALID   {SIGNATURE_NAME}" in lines
    assert f"MISMATCH  {MANIFEST_NAME}#review.text" in lines

    # The signature removed: an unsigned bundle proves nothing.
    files.pop(SIGNATURE_NAME)
    _write(path, files)
    code, lines = _verify(path)
    assert code == 1
    assert f"MISSING   {SIGNATURE_NAME}" in lines


def test_genuine_bundle_verifies_offline_with_only_the_public_key(
    session: Session, env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = _bundle(session, env, tmp_path)
    key_file = _public_key_file(tmp_path)
    fingerprint = json.loads(_files(path)[MANIFEST_NAME])["signature"]["public_key_fingerprint"]

    # The recipient's machine: no server, no data directory, no private key.
    monkeypatch.setenv("KUCHIKOMI_DATA_DIR", str(tmp_path / "elsewhere"))
    get_settings.cache_clear()
    code, lines = _verify(path)
    assert code == 2  # nothing to verify against, and it says so (not a silent pass)
    code, lines = _verify(path, "--public-key", str(key_file))
    assert code == 0, lines
    assert f"OK        {SIGNATURE_NAME}" in lines
    assert lines[-1].startswith("signature valid; all ")

    # The fingerprint in the manifest is the key's, as openssl computes it from the PEM.
    der = (
        subprocess.run(
            ["openssl", "pkey", "-pubin", "-in", str(key_file), "-outform", "DER"],
            capture_output=True,
            check=True,
        ).stdout
        if shutil.which("openssl")
        else None
    )
    if der is not None:
        assert fingerprint == "sha256:" + hashlib.sha256(der).hexdigest()
        # And openssl alone verifies the signature (a recipient without kuchikomi).
        files = _files(path)
        (tmp_path / MANIFEST_NAME).write_bytes(files[MANIFEST_NAME])
        (tmp_path / SIGNATURE_NAME).write_bytes(files[SIGNATURE_NAME])
        checked = subprocess.run(
            [
                "openssl",
                "pkeyutl",
                "-verify",
                "-pubin",
                "-inkey",
                str(key_file),
                "-rawin",
                "-in",
                str(tmp_path / MANIFEST_NAME),
                "-sigfile",
                str(tmp_path / SIGNATURE_NAME),
            ],
            capture_output=True,
            text=True,
        )
        assert checked.returncode == 0, checked.stderr

    # Another server's key does not verify it, and the output names both keys.
    monkeypatch.setenv("KUCHIKOMI_DATA_DIR", str(tmp_path / "other-server"))
    get_settings.cache_clear()
    other_key = _public_key_file(tmp_path, "other.pem")
    code, lines = _verify(path, "--public-key", str(other_key))
    assert code == 1
    assert lines[0] == f"INVALID   {SIGNATURE_NAME}"
    assert fingerprint in lines[1]


def test_the_key_is_made_once_private_to_the_server(session: Session, env: Path) -> None:
    first = runner.invoke(app, ["evidence", "public-key"])
    second = runner.invoke(app, ["evidence", "public-key"])
    assert first.exit_code == second.exit_code == 0
    assert first.stdout == second.stdout
    key_file = env / KEY_FILE
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert b"PRIVATE KEY" in key_file.read_bytes()
    assert "# fingerprint sha256:" in first.stderr
