"""``GET /api/v1/reviews/{id}/evidence``: download, verify with the CLI, tamper, scoping."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from kuchikomi.cli import app
from kuchikomi.services.accounts import create_token, create_user
from kuchikomi.services.evidence import MANIFEST_NAME, REPORT_NAME, SIGNATURE_NAME, WARC_NAME
from models import AuditEntry, EvidenceBundleRecord, EvidenceRecord, Review
from tests.api.conftest import LoginAs
from tests.api.factories import make_clinic, make_review
from tests.evidence.warcs import Page, archive_pages, sight, without_chromium

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_chromium(monkeypatch: pytest.MonkeyPatch) -> None:
    without_chromium(monkeypatch)


TEXT = "院長は不正請求をしているらしい。<script>alert(1)</script>"


def _archived_review(session: Session, data_dir: Path, name: str = "さくら内科") -> Review:
    clinic = make_clinic(session, name=name)
    listing = clinic.listings[0]
    review = make_review(session, listing, text=TEXT, author="通りすがり", probability=0.9)
    pages = [
        Page(
            url=listing.url,
            body=f"<html><body><p>{TEXT}</p></body></html>".encode(),
            fetched_at=datetime(2025, 3, day, 2, 0, tzinfo=UTC),
        )
        for day in (5, 6)
    ]
    sight(session, review, *archive_pages(session, data_dir, pages, listing_id=listing.id))
    return review


def _verify(path: Path) -> tuple[int, list[str]]:
    result = runner.invoke(app, ["evidence", "verify", str(path)])
    return result.exit_code, result.stdout.splitlines()


def test_downloaded_bundle_verifies_and_a_tampered_copy_names_the_file(
    session: Session, env: Path, tmp_path: Path, login_as: LoginAs
) -> None:
    review = _archived_review(session, env)
    response = login_as("reviewer").get(f"/api/v1/reviews/{review.id}/evidence")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith(f'attachment; filename="evidence-review-{review.id}-')

    path = tmp_path / "bundle.zip"
    path.write_bytes(response.content)
    code, lines = _verify(path)
    assert code == 0, lines
    assert "OK        manifest.json.sig" in lines
    assert lines[-1].startswith("signature valid; all ")

    with zipfile.ZipFile(path) as zf:
        files = {name: zf.read(name) for name in zf.namelist()}
    assert {WARC_NAME, REPORT_NAME, MANIFEST_NAME, SIGNATURE_NAME} <= set(files)
    # One byte of the report changed (as an edited printout would be).
    report = bytearray(files[REPORT_NAME])
    report[len(report) // 3] ^= 0x01
    files[REPORT_NAME] = bytes(report)
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(tampered, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    code, lines = _verify(tampered)
    assert code == 1
    assert f"MISMATCH  {REPORT_NAME}" in lines
    assert f"OK        {WARC_NAME}" in lines
    checks = [line for line in lines[:-1] if not line.startswith(" ")]
    assert lines[-1] == f"1 of {len(checks)} checks failed"


def test_clinic_users_get_only_their_clinics_bundles(
    session: Session, env: Path, login_as: LoginAs, client
) -> None:
    own = _archived_review(session, env, "自院")
    other = _archived_review(session, env, "他院")
    clinic_user = login_as("clinic", clinic_ids=[own.listing.clinic_id])

    assert clinic_user.get(f"/api/v1/reviews/{own.id}/evidence").status_code == 200
    refused = clinic_user.get(f"/api/v1/reviews/{other.id}/evidence")
    unknown = clinic_user.get("/api/v1/reviews/999999/evidence")
    # Another clinic's review answers exactly like one that does not exist.
    assert refused.status_code == unknown.status_code == 404
    assert refused.json()["detail"] == f"review {other.id} does not exist"
    assert login_as("admin").get("/api/v1/reviews/999999/evidence").status_code == 404
    assert client.get(f"/api/v1/reviews/{own.id}/evidence").status_code == 401
    assert login_as("admin").get("/api/v1/reviews/0/evidence").status_code == 422


def test_an_archive_that_no_longer_matches_is_refused_not_served(
    session: Session, env: Path, login_as: LoginAs
) -> None:
    review = _archived_review(session, env)
    admin = login_as("admin")
    (path,) = (env / "warc").rglob("*.warc.gz")
    original = path.read_bytes()
    # Each record is one gzip member; its header's MTIME, XFL and OS bytes (4-9) carry nothing
    # the evidence depends on. Wherever any other byte goes bad (gzip header, record headers,
    # payload, CRC trailer), the download is refused with the same explanation.
    spans = session.execute(select(EvidenceRecord.warc_offset, EvidenceRecord.warc_length)).all()
    assert len(spans) == 2
    harmless = {offset + i for offset, _ in spans for i in range(4, 10)}
    # Every 20th byte, and each member's last 16: the end of the record and the gzip trailer,
    # which a reader that stops at Content-Length never looks at.
    tails = {offset + length - i for offset, length in spans for i in range(1, 17)}
    positions = sorted((set(range(0, len(original), 20)) | tails) - harmless)
    for position in positions:
        data = bytearray(original)
        data[position] ^= 0xFF
        path.write_bytes(bytes(data))
        response = admin.get(f"/api/v1/reviews/{review.id}/evidence")
        assert response.status_code == 409, position
        detail = response.json()["detail"]
        assert detail.startswith("archived page of evidence "), (position, detail)
        assert "damaged" in detail, (position, detail)
    path.write_bytes(original)
    assert admin.get(f"/api/v1/reviews/{review.id}/evidence").status_code == 200


def test_review_page_links_the_bundle_and_the_draft(
    session: Session, env: Path, login_as: LoginAs
) -> None:
    review = _archived_review(session, env)
    page = login_as("reviewer").get(f"/reviews/{review.id}")
    assert page.status_code == 200
    assert f'href="/api/v1/reviews/{review.id}/evidence"' in page.text
    assert f'href="/reviews/{review.id}/takedown"' in page.text
    # Downloading through the link gives a bundle that holds the page (zip, manifest inside).
    bundle = login_as("reviewer").get(f"/api/v1/reviews/{review.id}/evidence").content
    with zipfile.ZipFile(io.BytesIO(bundle)) as zf:
        assert MANIFEST_NAME in zf.namelist()


def test_every_download_is_recorded_and_audited_web_and_api(
    session: Session,
    env: Path,
    login_as: LoginAs,
    client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    review = _archived_review(session, env)
    web = login_as("reviewer")
    from_web = web.get(f"/api/v1/reviews/{review.id}/evidence")
    user = create_user(
        session=session, email="script@example.jp", role="reviewer", password="x" * 12
    )
    token = create_token(session=session, user=user)
    session.commit()
    from_api = client.get(
        f"/api/v1/reviews/{review.id}/evidence", headers={"Authorization": f"Bearer {token}"}
    )
    assert from_web.status_code == from_api.status_code == 200

    session.expire_all()
    records = list(session.scalars(select(EvidenceBundleRecord).order_by(EvidenceBundleRecord.id)))
    audit = list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "evidence.download")
            .order_by(AuditEntry.id)
        )
    )
    assert [r.user_id for r in records] == [web.user_id, user.id]
    assert [a.actor for a in audit] == [web.email, "script@example.jp"]
    for response, record, entry in zip((from_web, from_api), records, audit, strict=True):
        with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
            manifest = zf.read(MANIFEST_NAME)
        # The server keeps the hash of the very manifest it signed and handed out.
        assert record.manifest_sha256 == hashlib.sha256(manifest).hexdigest()
        assert record.bundle_sha256 == response.headers["X-Content-SHA256"]
        assert record.review_id == review.id
        assert entry.object_type == "review" and entry.object_id == str(review.id)
        assert entry.after is not None
        assert entry.after["manifest_sha256"] == record.manifest_sha256

    # A refused download (another clinic's review) is neither recorded nor audited.
    other_clinic = make_clinic(session, name="他院")
    clinic_user = login_as("clinic", clinic_ids=[other_clinic.id])
    assert clinic_user.get(f"/api/v1/reviews/{review.id}/evidence").status_code == 404
    session.expire_all()
    assert len(list(session.scalars(select(EvidenceBundleRecord)))) == 2
