"""Evidence bundles for one review, and their verification (docs/domain.md).

A bundle is a zip a clinic can hand to its lawyer, a consultation desk or a court:

- ``evidence.warc.gz`` — the archived WARC records (ISO 28500) of the pages the review was seen on,
  copied byte for byte out of the crawler's archive by offset/length (each record is one gzip
  member, so the copies concatenate into a valid ``.warc.gz``);
- ``report.pdf`` — a printable Japanese report: URL, capture times, the post in full, poster,
  post date, the reviews around it, and the SHA-256 of the archived files;
- ``manifest.json`` — SHA-256 of every other file, the review's metadata and the captures.

Of all the times a review was seen, the bundle carries the first capture (the earliest proof it
was published) and the latest one (proof it is still, or was last, published): a review seen on
every nightly crawl would otherwise fill the bundle with near-identical pages.

:func:`verify_bundle` recomputes every hash (files, and each capture's payload inside the WARC)
and says which differ; ``kuchikomi evidence verify`` prints it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import zipfile
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer, Table, TableStyle
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from kuchikomi.services import japanese_pdf as jp
from kuchikomi_settings import get_settings
from models import EvidenceRecord, Listing, Review, ReviewSighting

BUNDLE_FORMAT = "kuchikomi-evidence/1"
WARC_NAME = "evidence.warc.gz"
REPORT_NAME = "report.pdf"
MANIFEST_NAME = "manifest.json"

JST = ZoneInfo("Asia/Tokyo")
# How many reviews before and after the post the report shows (the WARC holds the whole page).
NEIGHBOURS_EACH_SIDE = 3
NEIGHBOUR_TEXT_CHARS = 300
_CHUNK = 1024 * 1024


class ReviewNotFoundError(LookupError):
    """No review has this id."""


class ArchiveIntegrityError(RuntimeError):
    """The archived WARC record is missing, unreadable, or no longer matches its recorded hash."""


class BundleFormatError(ValueError):
    """The file is not an evidence bundle (not a zip, or no readable manifest)."""


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
class EvidenceBundle:
    filename: str
    content: bytes
    manifest: dict[str, Any]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


class CheckStatus(StrEnum):
    ok = "OK"
    mismatch = "MISMATCH"
    missing = "MISSING"
    # A file in the zip that the manifest does not list: something was added after the fact.
    unlisted = "UNLISTED"


@dataclass(frozen=True)
class FileCheck:
    file: str
    expected: str | None
    actual: str | None
    status: CheckStatus

    @property
    def ok(self) -> bool:
        return self.status is CheckStatus.ok


# --------------------------------------------------------------------------- building


def build_bundle(
    *,
    session: Session,
    review_id: int,
    now: datetime | None = None,
    clinic_ids: list[int] | None = None,
) -> EvidenceBundle:
    """The evidence zip for one review. Reads only; writes nothing anywhere.

    ``clinic_ids`` limits the reviews that may be bundled to those clinics' (None: every clinic);
    a review outside them is reported exactly like an unknown one.

    Raises :class:`ReviewNotFoundError` for an unknown id and :class:`ArchiveIntegrityError` when
    an archived record cannot be read back exactly as it was recorded (a bundle must never carry
    evidence that does not match its own hashes).
    """
    query = (
        select(Review)
        .join(Review.listing)
        .where(Review.id == review_id)
        .options(selectinload(Review.listing).selectinload(Listing.clinic))
    )
    if clinic_ids is not None:
        query = query.where(Listing.clinic_id.in_(clinic_ids))
    review = session.scalars(query).one_or_none()
    if review is None:
        raise ReviewNotFoundError(f"review {review_id} does not exist")
    created_at = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)

    records = list(
        session.scalars(
            select(EvidenceRecord)
            .join(ReviewSighting, ReviewSighting.evidence_id == EvidenceRecord.id)
            .where(ReviewSighting.review_id == review.id)
            .order_by(EvidenceRecord.fetched_at, EvidenceRecord.id)
        )
    )
    chosen = records[:1] + records[-1:] if len(records) > 1 else records
    captures = [_read_capture(record) for record in chosen]
    neighbours = _neighbours(session, review, [r.id for r in chosen])

    files: dict[str, bytes] = {}
    if captures:
        files[WARC_NAME] = b"".join(c.record for c in captures)
    hashes = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    metadata = _review_metadata(review)
    files[REPORT_NAME] = _report_pdf(
        review=review,
        metadata=metadata,
        captures=captures,
        sightings=len(records),
        neighbours=neighbours,
        hashes=hashes,
        created_at=created_at,
    )
    hashes[REPORT_NAME] = hashlib.sha256(files[REPORT_NAME]).hexdigest()

    manifest: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "created_at": created_at.isoformat(),
        "files": hashes,
        "review": metadata,
        "sightings": len(records),
        "captures": [
            {
                "file": WARC_NAME,
                "url": c.url,
                "status_code": c.status_code,
                "fetched_at": c.fetched_at.isoformat(),
                "warc_record_id": c.warc_record_id,
                "payload_sha256": c.payload_sha256,
            }
            for c in captures
        ],
    }
    files[MANIFEST_NAME] = (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode()

    buffer = io.BytesIO()
    stamp = created_at.astimezone(JST).timetuple()[:6]
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=stamp)
            # The WARC is gzip already; deflating it again only costs time.
            info.compress_type = zipfile.ZIP_STORED if name == WARC_NAME else zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    filename = f"evidence-review-{review.id}-{created_at:%Y%m%dT%H%M%SZ}.zip"
    return EvidenceBundle(filename=filename, content=buffer.getvalue(), manifest=manifest)


def _warc_file(relative: str) -> Path:
    data_dir = get_settings().data_dir.resolve()
    path = (data_dir / relative).resolve()
    # warc_path is ours, but a row pointing outside the data directory is refused all the same.
    if not path.is_relative_to(data_dir):
        raise ArchiveIntegrityError(f"archive path {relative!r} is outside the data directory")
    return path


def _read_capture(record: EvidenceRecord) -> Capture:
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
        found = _payload_digests(chunk)
    except ArchiveIntegrityError:
        # warcio's message quotes the undecodable bytes; name the record instead.
        raise ArchiveIntegrityError(
            f"archived page of evidence {record.id} is damaged in {record.warc_path} "
            f"(no readable WARC record at offset {record.warc_offset})"
        ) from None
    digests = found.get(_bare_id(record.warc_record_id))
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


def _bare_id(record_id: str) -> str:
    return record_id.strip().strip("<>")


def _payload_digests(warc: bytes | IO[bytes]) -> dict[str, set[str]]:
    """{record id: SHA-256s of its payload} for every response/resource record in ``warc``.

    Two digests per record: of the body as stored (raw) and as decoded (chunked transfer or
    content encoding undone). The crawler hashes the body as it received it; which of the two
    that is depends on whether the HTTP stack had decoded it, so either one proves the record.
    """
    if isinstance(warc, bytes) and warc[:2] == b"\x1f\x8b":
        # warcio stops reading a record at its Content-Length, so damage to the record's closing
        # newlines or the gzip trailer goes unseen; gzip checks every member's CRC-32 and size.
        # The records are then read from the checked plain text (decompressed once, not twice).
        try:
            warc = gzip.decompress(warc)
        except (OSError, EOFError, zlib.error) as exc:
            raise ArchiveIntegrityError(f"unreadable WARC data: {exc}") from None
    stream = io.BytesIO(warc) if isinstance(warc, bytes) else warc
    found: dict[str, set[str]] = {}
    try:
        for record in ArchiveIterator(stream):
            if record.rec_type not in ("response", "resource"):
                continue
            record_id = _bare_id(record.rec_headers.get_header("WARC-Record-ID") or "")
            raw = record.raw_stream.read()
            digests = {hashlib.sha256(raw).hexdigest()}
            if record.http_headers is not None:
                try:
                    decoded = _decode_body(raw, record.http_headers)
                except (OSError, ValueError, zlib.error, EOFError):
                    decoded = None
                if decoded is not None:
                    digests.add(hashlib.sha256(decoded).hexdigest())
            found[record_id] = digests
    except (ArchiveLoadFailed, OSError, ValueError, EOFError, zlib.error) as exc:
        raise ArchiveIntegrityError(f"unreadable WARC data: {exc}") from None
    return found


def _decode_body(raw: bytes, http_headers: Any) -> bytes | None:
    transfer = (http_headers.get_header("Transfer-Encoding") or "").lower()
    body = raw
    if "chunked" in transfer:
        body = _dechunk(body)
    encoding = (http_headers.get_header("Content-Encoding") or "").lower().strip()
    if encoding in ("gzip", "x-gzip"):
        body = gzip.decompress(body)
    elif encoding == "deflate":
        body = zlib.decompress(body)
    elif encoding == "br":
        return None
    return body if body != raw else None


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    pos = 0
    while True:
        end = data.index(b"\r\n", pos)
        size = int(data[pos:end].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += data[end + 2 : end + 2 + size]
        pos = end + 2 + size + 2


def _neighbours(session: Session, review: Review, evidence_ids: list[int]) -> list[Review]:
    """The reviews around this one, in the order of the page (post date, then first seen).

    Reviews seen on the archived pages in the bundle when there are any, else the same listing's
    reviews. (Not every page the review was ever seen on: over months of nightly crawls those
    would hold reviews that were never next to it.)
    """
    query = select(Review).where(Review.listing_id == review.listing_id)
    if evidence_ids:
        query = query.where(
            Review.id.in_(
                select(ReviewSighting.review_id).where(ReviewSighting.evidence_id.in_(evidence_ids))
            )
        )
    rows = list(session.scalars(query))
    floor = datetime.min.replace(tzinfo=UTC)
    rows.sort(key=lambda r: (r.posted_at or floor, r.first_seen_at, r.id))
    ids = [r.id for r in rows]
    if review.id not in ids:
        return []
    index = ids.index(review.id)
    return (
        rows[max(0, index - NEIGHBOURS_EACH_SIDE) : index]
        + [review]
        + rows[index + 1 : index + 1 + NEIGHBOURS_EACH_SIDE]
    )


def _review_metadata(review: Review) -> dict[str, Any]:
    listing = review.listing
    return {
        "id": review.id,
        "clinic_id": listing.clinic_id,
        "clinic_name": listing.clinic.name,
        "listing_url": listing.url,
        "source": listing.source,
        "url": review.url,
        "external_id": review.external_id,
        "author": review.author,
        "rating": review.rating,
        "posted_at": review.posted_at.isoformat() if review.posted_at else None,
        "posted_at_raw": review.posted_at_raw,
        "posted_at_exact": review.posted_at_exact,
        "first_seen_at": review.first_seen_at.isoformat(),
        "last_seen_at": review.last_seen_at.isoformat() if review.last_seen_at else None,
        "removed_at": review.removed_at.isoformat() if review.removed_at else None,
        "text": review.text,
        "text_sha256": hashlib.sha256(review.text.encode()).hexdigest(),
    }


def jst(value: datetime | None) -> str:
    """A time as printed on Japanese documents, with the UTC instant beside it."""
    if value is None:
        return "（不明）"
    local = value.astimezone(JST)
    return f"{local:%Y年%m月%d日 %H:%M:%S} (JST) / {value.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def _post_date(review: Review) -> str:
    parts = []
    if review.posted_at_raw:
        parts.append(f"サイト上の表示：{review.posted_at_raw}")
    if review.posted_at:
        day = f"{review.posted_at.astimezone(JST):%Y年%m月%d日}"
        parts.append(day if review.posted_at_exact else f"{day}（相対表示からの推定）")
    return "\n".join(parts) or "（サイトに表示なし）"


def _report_pdf(
    *,
    review: Review,
    metadata: dict[str, Any],
    captures: list[Capture],
    sightings: int,
    neighbours: list[Review],
    hashes: dict[str, str],
    created_at: datetime,
) -> bytes:
    p = jp.text_paragraph
    story: list[Any] = [p("口コミ投稿の証拠保全報告書", "title")]
    story.append(
        jp.field_table(
            [
                ("作成日時", jst(created_at)),
                ("医療機関", metadata["clinic_name"]),
                ("掲載ページ", metadata["listing_url"]),
                ("投稿のURL", metadata["url"] or "（個別URLなし：掲載ページを参照）"),
                ("投稿者（表示名）", metadata["author"] or "（表示なし）"),
                ("投稿日", _post_date(review)),
                ("評価", "（なし）" if review.rating is None else f"{review.rating:g}"),
                ("サイト上の投稿ID", metadata["external_id"]),
                ("初回検出日時", jst(review.first_seen_at)),
                ("最終確認日時", jst(review.last_seen_at)),
                (
                    "削除の確認",
                    jst(review.removed_at) + "（再取得時に掲載なし）"
                    if review.removed_at
                    else "未確認",
                ),
            ]
        )
    )
    story.append(p("投稿の全文（省略なし）", "heading"))
    story.append(
        p(
            "絵文字など印字できない文字は〔U+コード〕で表記しています（原文は manifest.json）。",
            "small",
        )
    )
    story.append(
        jp.field_table([("本文", metadata["text"]), ("本文のSHA-256", metadata["text_sha256"])])
    )

    story.append(p("ページの取得記録", "heading"))
    if captures:
        story.append(
            p(
                f"この投稿は{sightings}回の取得で確認されました。最初の取得と最新の取得のページを"
                f"WARC形式（ISO 28500）で {WARC_NAME} に収録しています（ページ全体、加工なし）。",
                "small",
            )
        )
        for n, c in enumerate(captures, 1):
            story.append(Spacer(1, 2))
            story.append(
                jp.field_table(
                    [
                        (f"取得 {n}：URL", c.url),
                        ("取得日時", jst(c.fetched_at)),
                        ("HTTPステータス", str(c.status_code)),
                        ("WARC-Record-ID", c.warc_record_id),
                        ("ページ本体のSHA-256", c.payload_sha256),
                    ]
                )
            )
    else:
        story.append(
            p(
                "この投稿が掲載されたページの保存記録はありません（取込データ等）。"
                "提出前に掲載ページを保存してください。",
                "body",
            )
        )

    story.append(p("周辺の投稿（掲載順）", "heading"))
    story.append(_neighbour_table(review, neighbours))

    story.append(p("ファイルのハッシュ値（SHA-256）", "heading"))
    rows: list[tuple[str, str | None]] = list(hashes.items())
    rows.append((REPORT_NAME, f"本報告書のハッシュ値は {MANIFEST_NAME} に記載"))
    story.append(jp.field_table(rows))
    story.append(Spacer(1, 6))
    story.append(
        p(
            "検証方法：kuchikomi evidence verify <このzipファイル> を実行すると、"
            f"{MANIFEST_NAME} に記載された全ファイルと取得ページのハッシュ値を再計算し、"
            "一致しないものを表示します。sha256sum 等の一般的なツールでも確認できます。",
            "small",
        )
    )
    return jp.render(
        story,
        title=f"証拠保全報告書 review {review.id}",
        footer=f"kuchikomi-guard 証拠保全報告書 / review {review.id} / "
        f"{created_at:%Y-%m-%dT%H:%M:%SZ}",
    )


def _neighbour_table(review: Review, neighbours: list[Review]) -> Table | Paragraph:
    if len(neighbours) <= 1:
        return jp.text_paragraph("（同じページで確認された他の投稿はありません）")
    head = [jp.text_paragraph(h, "label") for h in ("投稿日", "投稿者", "本文")]
    data: list[list[Any]] = [head]
    highlight = 0
    for i, other in enumerate(neighbours, 1):
        text = other.text
        if other.id != review.id and len(text) > NEIGHBOUR_TEXT_CHARS:
            text = text[:NEIGHBOUR_TEXT_CHARS] + "…（以下略、全文はWARCに収録）"
        if other.id == review.id:
            highlight = i
            text = "【本件投稿】\n" + text
        data.append(
            [
                jp.text_paragraph(other.posted_at_raw or _short_date(other.posted_at), "small"),
                jp.text_paragraph(other.author or "（表示なし）", "small"),
                jp.text_paragraph(text, "small"),
            ]
        )
    table = Table(data, colWidths=[30 * mm, 30 * mm, 110 * mm], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.93, 0.93, 0.93)),
                ("BACKGROUND", (0, highlight), (-1, highlight), colors.Color(1, 0.95, 0.8)),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _short_date(value: datetime | None) -> str:
    return f"{value.astimezone(JST):%Y年%m月%d日}" if value else "（不明）"


# --------------------------------------------------------------------------- verifying


def verify_bundle(source: Path | IO[bytes]) -> list[FileCheck]:
    """Recompute every hash of a bundle: one check per file in the manifest, per capture in the
    WARC (``evidence.warc.gz#<record id>``) and per file the manifest does not list.

    Raises :class:`BundleFormatError` when ``source`` is not a zip or has no valid manifest.
    """
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleFormatError(f"not a zip file: {exc}") from None
    with zf:
        manifest = _read_manifest(zf)
        names = {info.filename for info in zf.infolist() if not info.is_dir()}
        checks: list[FileCheck] = []
        for name, expected in manifest["files"].items():
            if name not in names:
                checks.append(FileCheck(name, expected, None, CheckStatus.missing))
                continue
            actual = _zip_sha256(zf, name)
            status = CheckStatus.ok if actual == expected.lower() else CheckStatus.mismatch
            checks.append(FileCheck(name, expected, actual, status))
        checks.extend(_check_captures(zf, manifest, names))
        for name in sorted(names - set(manifest["files"]) - {MANIFEST_NAME}):
            checks.append(FileCheck(name, None, _zip_sha256(zf, name), CheckStatus.unlisted))
    return checks


def _read_manifest(zf: zipfile.ZipFile) -> dict[str, Any]:
    try:
        raw = zf.read(MANIFEST_NAME)
    except KeyError:
        raise BundleFormatError(f"no {MANIFEST_NAME} in the zip: not an evidence bundle") from None
    except (zipfile.BadZipFile, zlib.error, OSError) as exc:
        raise BundleFormatError(f"{MANIFEST_NAME} cannot be read: {exc}") from None
    try:
        manifest = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise BundleFormatError(f"{MANIFEST_NAME} is not valid JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise BundleFormatError(f"{MANIFEST_NAME} is not a {BUNDLE_FORMAT} manifest")
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and _is_sha256(v) for k, v in files.items()
    ):
        raise BundleFormatError(f"{MANIFEST_NAME} has no valid list of file hashes")
    captures = manifest.get("captures", [])
    if not isinstance(captures, list) or not all(
        isinstance(c, dict)
        and isinstance(c.get("warc_record_id"), str)
        and isinstance(c.get("payload_sha256"), str)
        and isinstance(c.get("file", WARC_NAME), str)
        for c in captures
    ):
        raise BundleFormatError(f"{MANIFEST_NAME} has an invalid list of captures")
    return manifest


def _is_sha256(value: str) -> bool:
    return len(value) == 64 and all(ch in "0123456789abcdefABCDEF" for ch in value)


def _zip_sha256(zf: zipfile.ZipFile, name: str) -> str | None:
    """SHA-256 of a member, streamed; None when the member itself is damaged (bad CRC/deflate)."""
    digest = hashlib.sha256()
    try:
        with zf.open(name) as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError):
        return None
    return digest.hexdigest()


def _check_captures(
    zf: zipfile.ZipFile, manifest: dict[str, Any], names: set[str]
) -> list[FileCheck]:
    checks = []
    digests_by_file: dict[str, dict[str, set[str]] | None] = {}
    for capture in manifest.get("captures", []):
        file = capture.get("file") or WARC_NAME
        label = f"{file}#{capture['warc_record_id']}"
        expected = capture["payload_sha256"].lower()
        if file not in names:
            checks.append(FileCheck(label, expected, None, CheckStatus.missing))
            continue
        if file not in digests_by_file:
            try:
                with zf.open(file) as fh:
                    digests_by_file[file] = _payload_digests(io.BytesIO(fh.read()))
            except (ArchiveIntegrityError, zipfile.BadZipFile, zlib.error, OSError):
                digests_by_file[file] = None
        found = digests_by_file[file]
        digests = None if found is None else found.get(_bare_id(capture["warc_record_id"]))
        if digests is None:
            checks.append(FileCheck(label, expected, None, CheckStatus.missing))
        elif expected in digests:
            checks.append(FileCheck(label, expected, expected, CheckStatus.ok))
        else:
            checks.append(FileCheck(label, expected, sorted(digests)[0], CheckStatus.mismatch))
    return checks
