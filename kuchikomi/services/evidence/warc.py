"""Reading archived WARC records back: cut one out of the crawler's archive and prove it intact.

Each record the crawler writes is its own gzip member, so a record is read by (file, offset,
length) and the copies concatenate into a valid ``.warc.gz``. A record proves itself by the
SHA-256 of its HTTP payload, which the crawler recorded when it fetched the page.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.recordloader import ArcWarcRecord

from kuchikomi.services.evidence.base import ArchiveIntegrityError
from kuchikomi_settings import get_settings
from models import EvidenceRecord


@dataclass(frozen=True)
class Capture:
    """One archived page the review was seen on, with its WARC record copied out."""

    evidence_id: int
    url: str
    status_code: int
    fetched_at: datetime
    warc_record_id: str
    payload_sha256: str
    record: bytes


@dataclass(frozen=True)
class ArchivedPayload:
    """A response record as a browser would receive it: status, headers, decoded body."""

    url: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def bare_id(record_id: str) -> str:
    return record_id.strip().strip("<>")


def _warc_file(relative: str) -> Path:
    data_dir = get_settings().data_dir.resolve()
    path = (data_dir / relative).resolve()
    # warc_path is ours, but a row pointing outside the data directory is refused all the same.
    if not path.is_relative_to(data_dir):
        raise ArchiveIntegrityError(f"archive path {relative!r} is outside the data directory")
    return path


def read_capture(record: EvidenceRecord) -> Capture:
    """The record's bytes out of the archive, checked against its recorded payload SHA-256."""
    path = _warc_file(record.warc_path)
    try:
        with path.open("rb") as fh:
            fh.seek(record.warc_offset)
            chunk = fh.read(record.warc_length)
    except OSError as exc:
        raise ArchiveIntegrityError(
            f"archived page of evidence {record.id} cannot be read ({record.warc_path}): "
            f"{exc.strerror or exc}"
        ) from None
    if len(chunk) != record.warc_length:
        raise ArchiveIntegrityError(
            f"archived page of evidence {record.id} is truncated in {record.warc_path}"
        )
    try:
        found = payload_digests(chunk)
    except ArchiveIntegrityError:
        # warcio's message quotes the undecodable bytes; name the record instead.
        raise ArchiveIntegrityError(
            f"archived page of evidence {record.id} is damaged in {record.warc_path} "
            f"(no readable WARC record at offset {record.warc_offset})"
        ) from None
    digests = found.get(bare_id(record.warc_record_id))
    if digests is None:
        raise ArchiveIntegrityError(
            f"archived page of evidence {record.id} is damaged or missing in "
            f"{record.warc_path} (no WARC record {record.warc_record_id} at offset "
            f"{record.warc_offset})"
        )
    if record.payload_sha256.lower() not in digests:
        raise ArchiveIntegrityError(
            f"archived page of evidence {record.id} is damaged in {record.warc_path}: "
            "it no longer matches its recorded SHA-256"
        )
    return Capture(
        evidence_id=record.id,
        url=record.url,
        status_code=record.status_code,
        fetched_at=record.fetched_at,
        warc_record_id=record.warc_record_id,
        payload_sha256=record.payload_sha256.lower(),
        record=chunk,
    )


def _checked_stream(warc: bytes | IO[bytes]) -> IO[bytes]:
    if isinstance(warc, bytes) and warc[:2] == b"\x1f\x8b":
        # warcio stops reading a record at its Content-Length, so damage to the record's closing
        # newlines or the gzip trailer goes unseen; gzip checks every member's CRC-32 and size.
        # The records are then read from the checked plain text (decompressed once, not twice).
        try:
            warc = gzip.decompress(warc)
        except (OSError, EOFError, zlib.error) as exc:
            raise ArchiveIntegrityError(f"unreadable WARC data: {exc}") from None
    return io.BytesIO(warc) if isinstance(warc, bytes) else warc


def _decoded(record: ArcWarcRecord, raw: bytes) -> bytes:
    """The body with chunked transfer and content encoding undone, by warcio's own readers."""
    copy = ArcWarcRecord(
        record.format,
        record.rec_type,
        record.rec_headers,
        io.BytesIO(raw),
        record.http_headers,
        record.content_type,
        len(raw),
    )
    body: bytes = copy.content_stream().read()
    return body


def payload_digests(warc: bytes | IO[bytes]) -> dict[str, set[str]]:
    """{record id: SHA-256s of its payload} for every response/resource record in ``warc``.

    Two digests per record: of the body as stored (raw) and as decoded (chunked transfer or
    content encoding undone). The crawler hashes the body as it received it; which of the two
    that is depends on whether the HTTP stack had decoded it, so either one proves the record.
    """
    found: dict[str, set[str]] = {}
    for record_id, record, raw in _records(warc):
        digests = {hashlib.sha256(raw).hexdigest()}
        if record.http_headers is not None:
            try:
                digests.add(hashlib.sha256(_decoded(record, raw)).hexdigest())
            except (OSError, ValueError, zlib.error, EOFError):
                pass
        found[record_id] = digests
    return found


def archived_payloads(warc: bytes) -> dict[str, ArchivedPayload]:
    """{record id: the response} for the response records in ``warc``."""
    payloads: dict[str, ArchivedPayload] = {}
    for record_id, record, raw in _records(warc):
        if record.rec_type != "response" or record.http_headers is None:
            continue
        url = record.rec_headers.get_header("WARC-Target-URI") or ""
        try:
            body = _decoded(record, raw)
        except (OSError, ValueError, zlib.error, EOFError):
            body = raw
        status = record.http_headers.get_statuscode()
        payloads[record_id] = ArchivedPayload(
            url=url,
            status=int(status) if status and status.isdigit() else 200,
            headers=list(record.http_headers.headers),
            body=body,
        )
    return payloads


def _records(warc: bytes | IO[bytes]) -> list[tuple[str, ArcWarcRecord, bytes]]:
    stream = _checked_stream(warc)
    records = []
    try:
        for record in ArchiveIterator(stream):
            if record.rec_type not in ("response", "resource"):
                continue
            record_id = bare_id(record.rec_headers.get_header("WARC-Record-ID") or "")
            records.append((record_id, record, record.raw_stream.read()))
    except (ArchiveLoadFailed, OSError, ValueError, EOFError, zlib.error) as exc:
        raise ArchiveIntegrityError(f"unreadable WARC data: {exc}") from None
    return records
