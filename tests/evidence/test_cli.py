"""``kuchikomi evidence verify``: exit 0 when every hash matches, 1 when any differs, 2 on a file
that is not a bundle."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from sqlalchemy.orm import Session
from typer.testing import CliRunner

from kuchikomi.cli import app
from kuchikomi.services.evidence import MANIFEST_NAME, REPORT_NAME, WARC_NAME, build_bundle
from tests.api.factories import make_clinic, make_review
from tests.evidence.warcs import Page, archive_pages, sight

runner = CliRunner()


def _bundle_file(session: Session, data_dir: Path, tmp_path: Path) -> tuple[Path, str]:
    clinic = make_clinic(session)
    listing = clinic.listings[0]
    review = make_review(session, listing, text="院長は患者の個人情報を横流ししているらしい。")
    records = archive_pages(
        session,
        data_dir,
        [
            Page(
                url=listing.url, body="<p>院長は患者の個人情報を横流ししているらしい。</p>".encode()
            )
        ],
        listing_id=listing.id,
    )
    sight(session, review, *records)
    path = tmp_path / "bundle.zip"
    path.write_bytes(build_bundle(session=session, review_id=review.id).content)
    return path, records[0].warc_record_id


def _rewrite(path: Path, changes: dict[str, bytes | None]) -> None:
    with zipfile.ZipFile(path) as zf:
        files = {name: zf.read(name) for name in zf.namelist()}
    for name, data in changes.items():
        if data is None:
            files.pop(name)
        else:
            files[name] = data
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)


def test_intact_bundle_verifies(session: Session, env: Path, tmp_path: Path) -> None:
    path, record_id = _bundle_file(session, env, tmp_path)
    result = runner.invoke(app, ["evidence", "verify", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert f"OK        {WARC_NAME}" in lines
    assert f"OK        {REPORT_NAME}" in lines
    assert f"OK        {WARC_NAME}#{record_id}" in lines
    assert "OK        manifest.json.sig" in lines
    assert "OK        manifest.json#review.text" in lines
    assert lines[-1] == "signature valid; all 4 hashes match the manifest"


def test_tampered_file_is_named_and_exits_1(session: Session, env: Path, tmp_path: Path) -> None:
    path, _ = _bundle_file(session, env, tmp_path)
    with zipfile.ZipFile(path) as zf:
        report = bytearray(zf.read(REPORT_NAME))
    report[len(report) // 2] ^= 0x01
    _rewrite(path, {REPORT_NAME: bytes(report)})

    result = runner.invoke(app, ["evidence", "verify", str(path)])
    assert result.exit_code == 1, result.output
    assert f"MISMATCH  {REPORT_NAME}" in result.stdout.splitlines()
    assert f"OK        {WARC_NAME}" in result.stdout.splitlines()

    as_json = runner.invoke(app, ["evidence", "verify", str(path), "--format", "json"])
    assert as_json.exit_code == 1
    statuses = {row["file"]: row["status"] for row in json.loads(as_json.stdout)}
    assert statuses[REPORT_NAME] == "MISMATCH" and statuses[WARC_NAME] == "OK"


def test_missing_file_exits_1(session: Session, env: Path, tmp_path: Path) -> None:
    path, record_id = _bundle_file(session, env, tmp_path)
    _rewrite(path, {WARC_NAME: None})
    result = runner.invoke(app, ["evidence", "verify", str(path)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert f"MISSING   {WARC_NAME}" in lines
    assert f"MISSING   {WARC_NAME}#{record_id}" in lines
    assert f"OK        {REPORT_NAME}" in lines


def test_not_a_bundle_exits_2(tmp_path: Path) -> None:
    not_zip = tmp_path / "report.zip"
    not_zip.write_bytes(b"%PDF-1.7\n...")
    result = runner.invoke(app, ["evidence", "verify", str(not_zip)])
    assert result.exit_code == 2
    assert "not a zip file" in result.stderr

    no_manifest = tmp_path / "other.zip"
    with zipfile.ZipFile(no_manifest, "w") as zf:
        zf.writestr("photo.jpg", b"\xff\xd8")
    result = runner.invoke(app, ["evidence", "verify", str(no_manifest)])
    assert result.exit_code == 2
    assert MANIFEST_NAME in result.stderr

    result = runner.invoke(app, ["evidence", "verify", str(tmp_path / "nowhere.zip")])
    assert result.exit_code == 2
    assert "no such file" in result.stderr
