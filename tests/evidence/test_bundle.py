"""Evidence bundles built from real rows and real WARC files, and their verification."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy.orm import Session
from warcio.archiveiterator import ArchiveIterator

from kuchikomi.errors import ReviewNotFound
from kuchikomi.services.evidence import (
    MANIFEST_NAME,
    REPORT_NAME,
    SIGNATURE_NAME,
    WARC_NAME,
    ArchiveIntegrityError,
    BundleFormatError,
    CheckStatus,
    build_bundle,
    verify_bundle,
)
from tests.api.factories import make_clinic, make_review
from tests.evidence.warcs import Page, archive_pages, sight, write_warc

HARMFUL = "院長は不正請求をしているらしい。<script>alert(1)</script> & <b>太字</b>"


def _page(n: int, day: int) -> Page:
    body = f"<html><body><h1>口コミ一覧</h1><p>{HARMFUL}</p><p>page {n}</p></body></html>"
    return Page(
        url="https://reviews.example.jp/clinic/1?page=1",
        body=body.encode(),
        fetched_at=datetime(2025, 3, day, 2, 0, tzinfo=UTC),
    )


def _setup(session: Session, data_dir: Path, captures: int = 3):
    clinic = make_clinic(session)
    listing = clinic.listings[0]
    before = make_review(
        session, listing, text="受付の方が親切でした。", posted_at=datetime(2025, 3, 1, tzinfo=UTC)
    )
    review = make_review(session, listing, text=HARMFUL, author="通りすがり", probability=0.9)
    after = make_review(
        session, listing, text="待ち時間が長い。", posted_at=datetime(2025, 3, 9, tzinfo=UTC)
    )
    other_clinic = make_clinic(session, name="別のクリニック")
    unrelated = make_review(session, other_clinic.listings[0], text="関係のない投稿です。")
    records = archive_pages(
        session, data_dir, [_page(n, 5 + n) for n in range(captures)], listing_id=listing.id
    )
    for r in (before, review, after):
        sight(session, r, *records)
    return review, records, (before, after, unrelated)


def _members(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def test_bundle_holds_first_and_latest_capture_report_and_manifest(
    session: Session, env: Path
) -> None:
    review, records, (before, after, unrelated) = _setup(session, env, captures=3)
    bundle = build_bundle(session=session, review_id=review.id)
    files = _members(bundle.content)
    assert set(files) == {WARC_NAME, REPORT_NAME, MANIFEST_NAME, SIGNATURE_NAME}

    manifest = json.loads(files[MANIFEST_NAME])
    for name in (WARC_NAME, REPORT_NAME):
        assert manifest["files"][name] == hashlib.sha256(files[name]).hexdigest()
    assert manifest["review"]["text"] == HARMFUL
    assert manifest["review"]["author"] == "通りすがり"
    assert manifest["sightings"] == 3
    # First and latest capture, in capture order, each with its capture time.
    assert [c["warc_record_id"] for c in manifest["captures"]] == [
        records[0].warc_record_id,
        records[2].warc_record_id,
    ]
    assert manifest["captures"][0]["fetched_at"] == "2025-03-05T02:00:00+00:00"

    # The WARC in the bundle is a valid WARC holding exactly those records, bodies intact.
    warc = [
        (r.rec_headers["WARC-Record-ID"], hashlib.sha256(r.content_stream().read()).hexdigest())
        for r in ArchiveIterator(io.BytesIO(files[WARC_NAME]))
    ]
    assert warc == [(r.warc_record_id, r.payload_sha256) for r in (records[0], records[2])]

    report = "\n".join(
        page.extract_text() for page in PdfReader(io.BytesIO(files[REPORT_NAME])).pages
    )
    flat = report.replace("\n", "")
    assert "証拠保全報告書" in flat
    assert records[0].url in flat
    assert manifest["files"][WARC_NAME] in flat
    assert "通りすがり" in flat
    assert "2025年3月5日 11:00:00 (JST)" in flat
    # The reviews around it are shown; another clinic's review is not.
    assert "受付の方が親切でした。" in flat and "待ち時間が長い。" in flat
    assert "関係のない投稿です。" not in flat

    assert all(check.ok for check in verify_bundle(io.BytesIO(bundle.content)))


def test_review_text_with_markup_is_printed_as_typed(session: Session, env: Path) -> None:
    review, _, _ = _setup(session, env, captures=1)
    files = _members(build_bundle(session=session, review_id=review.id).content)
    report = "".join(
        page.extract_text() for page in PdfReader(io.BytesIO(files[REPORT_NAME])).pages
    ).replace("\n", "")
    assert "<script>alert(1)</script> & <b>太字</b>" in report


def test_tampered_missing_and_added_files_are_reported(session: Session, env: Path) -> None:
    review, records, _ = _setup(session, env, captures=1)
    files = _members(build_bundle(session=session, review_id=review.id).content)
    warc = files[WARC_NAME]

    # Rewrite the archived page inside the WARC (a valid WARC, different page): both the file
    # hash and the capture's payload hash must be reported.
    page = Page(
        url=records[0].url, body=b"<html>edited</html>", record_id=records[0].warc_record_id
    )
    write_warc(env, "forged.warc.gz", [page])
    forged = (env / "forged.warc.gz").read_bytes()
    assert page_record_id(forged) == records[0].warc_record_id
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(WARC_NAME, forged)
        zf.writestr(MANIFEST_NAME, files[MANIFEST_NAME])
        zf.writestr("extra.txt", b"added later")
    checks = {c.file: c.status for c in verify_bundle(io.BytesIO(buffer.getvalue()))}
    assert checks == {
        SIGNATURE_NAME: CheckStatus.missing,
        f"{MANIFEST_NAME}#review.text": CheckStatus.ok,
        WARC_NAME: CheckStatus.mismatch,
        REPORT_NAME: CheckStatus.missing,
        f"{WARC_NAME}#{records[0].warc_record_id}": CheckStatus.mismatch,
        "extra.txt": CheckStatus.unlisted,
    }
    assert warc != forged


def page_record_id(warc: bytes) -> str:
    return next(iter(ArchiveIterator(io.BytesIO(warc)))).rec_headers["WARC-Record-ID"]


def test_not_a_bundle_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BundleFormatError):
        verify_bundle(io.BytesIO(b"%PDF-1.4 not a zip"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("notes.txt", "hello")
    with pytest.raises(BundleFormatError, match="manifest.json"):
        verify_bundle(io.BytesIO(buffer.getvalue()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(MANIFEST_NAME, '{"format": "something-else", "files": {}}')
    with pytest.raises(BundleFormatError):
        verify_bundle(io.BytesIO(buffer.getvalue()))


def test_unknown_review_is_refused(session: Session, env: Path) -> None:
    with pytest.raises(ReviewNotFound):
        build_bundle(session=session, review_id=999_999)


def test_archive_that_no_longer_matches_is_refused_not_bundled(session: Session, env: Path) -> None:
    review, records, _ = _setup(session, env, captures=1)
    record = records[0]
    # The recorded hash and the archive disagree (whichever of the two was changed).
    recorded = record.payload_sha256
    record.payload_sha256 = hashlib.sha256(b"another page").hexdigest()
    session.commit()
    with pytest.raises(ArchiveIntegrityError, match="no longer matches"):
        build_bundle(session=session, review_id=review.id)
    record.payload_sha256 = recorded
    session.commit()

    # Bytes of the stored record damaged on disk: the gzip member no longer decodes.
    path = env / record.warc_path
    data = bytearray(path.read_bytes())
    middle = record.warc_offset + record.warc_length // 2
    data[middle] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArchiveIntegrityError):
        build_bundle(session=session, review_id=review.id)

    path.unlink()
    with pytest.raises(ArchiveIntegrityError, match="cannot be read"):
        build_bundle(session=session, review_id=review.id)


def test_review_without_archived_page_still_gets_a_report(session: Session, env: Path) -> None:
    clinic = make_clinic(session)
    review = make_review(session, clinic.listings[0], text="取込データの投稿")
    files = _members(build_bundle(session=session, review_id=review.id).content)
    assert set(files) == {REPORT_NAME, MANIFEST_NAME, SIGNATURE_NAME}
    manifest = json.loads(files[MANIFEST_NAME])
    assert manifest["captures"] == [] and manifest["sightings"] == 0
    report = "".join(p.extract_text() for p in PdfReader(io.BytesIO(files[REPORT_NAME])).pages)
    assert "保存記録はありません" in report.replace("\n", "")


def test_manifest_with_a_malformed_capture_is_refused_not_a_crash() -> None:
    # A capture naming its file by something other than a string used to raise TypeError.
    buffer = io.BytesIO()
    manifest = {
        "format": "kuchikomi-evidence/2",
        "files": {},
        "captures": [{"file": [1], "warc_record_id": "<urn:uuid:x>", "payload_sha256": "0" * 64}],
    }
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(MANIFEST_NAME, json.dumps(manifest))
    with pytest.raises(BundleFormatError, match="captures"):
        verify_bundle(io.BytesIO(buffer.getvalue()))


def test_damaged_archive_is_named_by_its_evidence_record(session: Session, env: Path) -> None:
    review, records, _ = _setup(session, env, captures=1)
    path = env / records[0].warc_path
    data = bytearray(path.read_bytes())
    # The gzip header's first byte: the member is no longer recognisable as gzip or WARC.
    data[records[0].warc_offset] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArchiveIntegrityError, match=f"evidence {records[0].id} is damaged"):
        build_bundle(session=session, review_id=review.id)


def test_chunked_and_gzipped_page_is_proved_by_its_decoded_body(
    session: Session, env: Path
) -> None:
    # The crawler hashes the body as its HTTP stack handed it over (decoded); the WARC may hold
    # it as it went over the wire. warcio's own readers undo both encodings.
    body = f"<html><body><p>{HARMFUL}</p></body></html>".encode()
    packed = gzip.compress(body)
    wire = (
        b"".join(
            f"{len(packed[i : i + 100]):x}\r\n".encode() + packed[i : i + 100] + b"\r\n"
            for i in range(0, len(packed), 100)
        )
        + b"0\r\n\r\n"
    )
    clinic = make_clinic(session)
    review = make_review(session, clinic.listings[0], text=HARMFUL)
    page = Page(
        url=clinic.listings[0].url,
        body=body,
        wire_body=wire,
        headers=(("Transfer-Encoding", "chunked"), ("Content-Encoding", "gzip")),
    )
    records = archive_pages(session, env, [page], listing_id=clinic.listings[0].id)
    sight(session, review, *records)
    assert records[0].payload_sha256 == hashlib.sha256(body).hexdigest()

    bundle = build_bundle(session=session, review_id=review.id)
    checks = verify_bundle(io.BytesIO(bundle.content))
    assert all(c.ok for c in checks)
    assert f"{WARC_NAME}#{records[0].warc_record_id}" in {c.file for c in checks}
