"""What every part of an evidence bundle agrees on: file names, format id, errors, Japan time."""

from __future__ import annotations

from datetime import UTC, datetime

from kuchikomi.errors import Conflict, Invalid
from kuchikomi.japanese import JST, ja_date

# /2 adds the signature (manifest.json.sig) and the renderings of the archived pages.
BUNDLE_FORMAT = "kuchikomi-evidence/2"
# Bundles issued before signatures: still read, but they cannot pass verification.
UNSIGNED_FORMAT = "kuchikomi-evidence/1"
WARC_NAME = "evidence.warc.gz"
REPORT_NAME = "report.pdf"
MANIFEST_NAME = "manifest.json"
# A detached Ed25519 signature (64 raw bytes) of manifest.json exactly as stored in the zip.
SIGNATURE_NAME = "manifest.json.sig"


class ArchiveIntegrityError(Conflict):
    """The archived WARC record is missing, unreadable, or no longer matches its recorded hash
    (HTTP 409: a bundle never carries evidence that does not match its own hashes)."""

    message_ja = "保存済みのページを記録どおりに読み出せないため、証拠を作成できません。"


class BundleFormatError(Invalid):
    """The file is not an evidence bundle (not a zip, or no readable manifest)."""

    message_ja = "証拠ファイル（zip）として読み取れません。"


def jst(value: datetime | None) -> str:
    """A time as printed on Japanese documents, with the UTC instant beside it."""
    if value is None:
        return "（不明）"
    local = value.astimezone(JST)
    return f"{ja_date(local)} {local:%H:%M:%S} (JST) / {value.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def jst_minute(value: datetime) -> str:
    """``2025-03-04 09:15 JST``: the short form on the rendered pages' header line."""
    return f"{value.astimezone(JST):%Y-%m-%d %H:%M} JST"
