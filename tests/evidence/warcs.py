"""Write real WARC files the way the crawler archives pages (warcio, one gzip member per record)
and the rows that point into them, for the evidence tests."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from kuchikomi_settings import get_settings
from models import EvidenceRecord, Review, ReviewSighting

MISSING_CHROMIUM = "/nonexistent/chromium"


def without_chromium(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bundles made without renderings: a browser for every bundle costs seconds a test, and
    tests/evidence/test_rendering.py is where renderings are checked."""
    monkeypatch.setenv("KUCHIKOMI_EVIDENCE__CHROMIUM", MISSING_CHROMIUM)
    get_settings.cache_clear()


@dataclass(frozen=True)
class Page:
    url: str
    body: bytes
    fetched_at: datetime = datetime(2025, 3, 5, 2, 0, tzinfo=UTC)
    status: int = 200
    # A given WARC-Record-ID (to forge a record in tests); warcio makes a fresh one otherwise.
    record_id: str | None = None
    # The body as it went over the wire (chunked, gzip…) when it differs from ``body``, with
    # the headers that say so; the recorded SHA-256 is always of ``body``.
    wire_body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()


def write_warc(data_dir: Path, relative: str, pages: list[Page]) -> list[tuple[int, int, str]]:
    """Append ``pages`` as response records; returns (offset, length, record id) per page."""
    path = data_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    spans = []
    with path.open("ab") as fh:
        writer = WARCWriter(fh, gzip=True)
        for page in pages:
            http_headers = StatusAndHeaders(
                f"{page.status} OK",
                [("Content-Type", "text/html; charset=utf-8"), *page.headers],
                protocol="HTTP/1.1",
            )
            warc_headers = {"WARC-Date": page.fetched_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
            if page.record_id:
                warc_headers["WARC-Record-ID"] = page.record_id
            record = writer.create_warc_record(
                page.url,
                "response",
                payload=BytesIO(page.body if page.wire_body is None else page.wire_body),
                http_headers=http_headers,
                warc_headers_dict=warc_headers,
            )
            offset = fh.tell()
            writer.write_record(record)
            spans.append((offset, fh.tell() - offset, record.rec_headers["WARC-Record-ID"]))
    return spans


def archive_pages(
    session: Session,
    data_dir: Path,
    pages: list[Page],
    *,
    listing_id: int | None,
    relative: str = "warc/2025/03/crawl-1.warc.gz",
) -> list[EvidenceRecord]:
    """Archive ``pages`` into one WARC file and store an ``evidence_record`` row for each."""
    records = []
    for page, (offset, length, record_id) in zip(
        pages, write_warc(data_dir, relative, pages), strict=True
    ):
        record = EvidenceRecord(
            listing_id=listing_id,
            url=page.url,
            status_code=page.status,
            fetched_at=page.fetched_at,
            warc_path=relative,
            warc_offset=offset,
            warc_length=length,
            payload_sha256=hashlib.sha256(page.body).hexdigest(),
            warc_record_id=record_id,
        )
        session.add(record)
        records.append(record)
    session.commit()
    return records


def sight(session: Session, review: Review, *records: EvidenceRecord) -> None:
    for record in records:
        session.add(
            ReviewSighting(review_id=review.id, evidence_id=record.id, seen_at=record.fetched_at)
        )
    session.commit()
