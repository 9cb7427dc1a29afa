"""WARC archiving (ISO 28500) of every fetched response, with SHA-256 digests (docs/domain.md).

One gzip-compressed WARC file per crawl process; each record is its own gzip member, so an
evidence record is addressed by (file, offset, length) and can be cut out and verified alone.
No database here: the caller stores where each record went.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from warcio.statusandheaders import StatusAndHeaders
from warcio.utils import Digester
from warcio.warcwriter import WARCWriter

SOFTWARE = "kuchikomi-guard crawler (Scrapy, warcio)"


class _SHA256WARCWriter(WARCWriter):  # type: ignore[misc]  # warcio ships no type hints
    """warcio digests with SHA-1 by default; evidence needs SHA-256 (block and payload)."""

    @staticmethod
    def _create_digester() -> Digester:
        return Digester("sha256")


def sha256_base32(data: bytes) -> str:
    """The digest as WARC headers carry it (``sha256:<base32>``)."""
    return "sha256:" + base64.b32encode(hashlib.sha256(data).digest()).decode("ascii")


@dataclass(frozen=True)
class ArchivedRecord:
    path: Path  # the WARC file
    offset: int  # where the response record's gzip member starts
    length: int  # its length in bytes
    payload_sha256: str  # hex SHA-256 of the HTTP body as received
    record_id: str  # WARC-Record-ID, "<urn:uuid:…>"


class WarcArchive:
    """Appends request/response record pairs to one WARC file, opened on first use."""

    def __init__(self, path: Path, *, operator: str) -> None:
        self.path = path
        self.operator = operator
        self._file: BinaryIO | None = None
        self._writer: _SHA256WARCWriter | None = None

    def _open(self) -> _SHA256WARCWriter:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # "xb": a run never appends to (or overwrites) another run's evidence.
            self._file = open(self.path, "xb")  # noqa: SIM115 - closed in close()
            self._writer = _SHA256WARCWriter(self._file, gzip=True, warc_version="1.1")
            info = self._writer.create_warcinfo_record(
                self.path.name,
                {"software": SOFTWARE, "format": "WARC File Format 1.1", "operator": self.operator},
            )
            self._writer.write_record(info)
        return self._writer

    def write(
        self,
        *,
        url: str,
        status: int,
        reason: str,
        protocol: str,
        headers: list[tuple[str, str]],
        body: bytes,
        request_method: str,
        request_headers: list[tuple[str, str]],
        fetched_at: datetime,
        ip_address: str | None = None,
    ) -> ArchivedRecord:
        writer = self._open()
        assert self._file is not None
        warc_date = fetched_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        warc_headers = {"WARC-Date": warc_date}
        if ip_address:
            warc_headers["WARC-IP-Address"] = ip_address
        status_line = f"{status} {reason}".strip()
        response = writer.create_warc_record(
            url,
            "response",
            payload=io.BytesIO(body),
            length=len(body),
            http_headers=StatusAndHeaders(status_line, headers, protocol=protocol),
            warc_headers_dict=dict(warc_headers),
        )
        offset = self._file.tell()
        writer.write_record(response)
        self._file.flush()
        length = self._file.tell() - offset

        path_and_query = url.split("://", 1)[-1]
        path_and_query = "/" + path_and_query.split("/", 1)[1] if "/" in path_and_query else "/"
        request = writer.create_warc_record(
            url,
            "request",
            payload=io.BytesIO(b""),
            length=0,
            http_headers=StatusAndHeaders(
                f"{request_method} {path_and_query} {protocol}",
                request_headers,
                is_http_request=True,
            ),
            warc_headers_dict={
                **warc_headers,
                "WARC-Concurrent-To": response.rec_headers.get_header("WARC-Record-ID"),
            },
        )
        writer.write_record(request)
        # Handed to the operating system; durable after the next sync(), which the crawl's
        # store batch calls before it records anything that points here.
        self._file.flush()
        return ArchivedRecord(
            path=self.path,
            offset=offset,
            length=length,
            payload_sha256=hashlib.sha256(body).hexdigest(),
            record_id=response.rec_headers.get_header("WARC-Record-ID"),
        )

    def sync(self) -> None:
        """Make every record written so far durable (one fsync for a whole batch of records).

        Safe to call from another thread while records are being written: the file object's
        buffer is flushed after each record, and fsync works on the descriptor alone.
        """
        if self._file is not None:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        self._file = None
        self._writer = None
