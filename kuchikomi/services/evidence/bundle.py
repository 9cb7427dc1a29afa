"""Building a review's evidence bundle, and keeping a record of every bundle issued.

Of all the times a review was seen, the bundle carries the first capture (the earliest proof it
was published) and the latest one (proof it is still, or was last, published): a review seen on
every nightly crawl would otherwise fill the bundle with near-identical pages.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from kuchikomi.japanese import JST
from kuchikomi.services.audit import record_audit
from kuchikomi.services.evidence import rendering, signing
from kuchikomi.services.evidence.base import (
    BUNDLE_FORMAT,
    MANIFEST_NAME,
    REPORT_NAME,
    SIGNATURE_NAME,
    WARC_NAME,
)
from kuchikomi.services.evidence.report import ReportInput, report_pdf
from kuchikomi.services.evidence.warc import Capture, read_capture
from kuchikomi.services.visibility import visible_review
from models import EvidenceBundleRecord, EvidenceRecord, Listing, Review, ReviewSighting, User

# How many reviews before and after the post the report shows (the WARC holds the whole page).
NEIGHBOURS_EACH_SIDE = 3


@dataclass(frozen=True)
class EvidenceBundle:
    filename: str
    content: bytes
    manifest: dict[str, Any]
    manifest_sha256: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def build_bundle(
    *,
    session: Session,
    review_id: int,
    now: datetime | None = None,
    clinic_ids: list[int] | None = None,
) -> EvidenceBundle:
    """The signed evidence zip for one review. Writes nothing but the signing key, on first use.

    ``clinic_ids`` limits the reviews that may be bundled to those clinics' (None: every clinic);
    a review outside them is reported exactly like an unknown one.

    Raises :class:`~kuchikomi.errors.ReviewNotFound` for an unknown id and
    :class:`ArchiveIntegrityError` when an archived record cannot be read back exactly as it was
    recorded (a bundle must never carry evidence that does not match its own hashes), and
    RuntimeError when this server's signing key cannot be read.
    """
    review = visible_review(
        session=session,
        review_id=review_id,
        clinic_ids=clinic_ids,
        options=(selectinload(Review.listing).selectinload(Listing.clinic),),
    )
    created_at = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    try:
        key: Ed25519PrivateKey = signing.signing_key()
    except signing.SigningKeyError as exc:
        # This server's own key is unusable: a fault of its setup, not of the request, which a
        # domain error would answer as bad input (422, naming a server path). A server error.
        raise RuntimeError(str(exc)) from exc
    fingerprint = signing.PublicKey(key.public_key()).fingerprint

    records = list(
        session.scalars(
            select(EvidenceRecord)
            .join(ReviewSighting, ReviewSighting.evidence_id == EvidenceRecord.id)
            .where(ReviewSighting.review_id == review.id)
            .order_by(EvidenceRecord.fetched_at, EvidenceRecord.id)
        )
    )
    chosen = records[:1] + records[-1:] if len(records) > 1 else records
    captures = [read_capture(record) for record in chosen]
    neighbours = _neighbours(session, review, [r.id for r in chosen])

    files: dict[str, bytes] = {}
    if captures:
        files[WARC_NAME] = b"".join(c.record for c in captures)
        rendered = rendering.render_captures(captures, files[WARC_NAME])
        files.update(rendered.files)
    else:
        rendered = rendering.Rendered.unavailable("この投稿の保存ページがありません")
    hashes = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    metadata = _review_metadata(review)
    files[REPORT_NAME] = report_pdf(
        ReportInput(
            review=review,
            metadata=metadata,
            captures=captures,
            sightings=len(records),
            neighbours=neighbours,
            hashes=hashes,
            created_at=created_at,
            key_fingerprint=fingerprint,
            rendering=rendered.manifest,
        )
    )
    hashes[REPORT_NAME] = hashlib.sha256(files[REPORT_NAME]).hexdigest()

    manifest: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "created_at": created_at.isoformat(),
        "signature": {"algorithm": signing.ALGORITHM, "public_key_fingerprint": fingerprint},
        "files": hashes,
        "review": metadata,
        "sightings": len(records),
        "captures": [_capture_entry(c) for c in captures],
        "rendering": rendered.manifest,
    }
    manifest_bytes = (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode()
    files[MANIFEST_NAME] = manifest_bytes
    files[SIGNATURE_NAME] = key.sign(manifest_bytes)

    buffer = io.BytesIO()
    stamp = created_at.astimezone(JST).timetuple()[:6]
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=stamp)
            # The WARC and the PNGs are compressed already; deflating them again only costs time.
            stored = name == WARC_NAME or name.endswith(".png")
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    filename = f"evidence-review-{review.id}-{created_at:%Y%m%dT%H%M%SZ}.zip"
    return EvidenceBundle(
        filename=filename,
        content=buffer.getvalue(),
        manifest=manifest,
        manifest_sha256=hashlib.sha256(manifest_bytes).hexdigest(),
    )


def issue_bundle(
    *,
    session: Session,
    review_id: int,
    user: User | None,
    clinic_ids: list[int] | None = None,
    now: datetime | None = None,
) -> EvidenceBundle:
    """Build the bundle, record its hashes and audit the download; commits both.

    The record (``evidence_bundle``) lets the association later say whether a bundle someone
    shows it is one it issued, by its manifest's SHA-256.
    """
    bundle = build_bundle(session=session, review_id=review_id, now=now, clinic_ids=clinic_ids)
    record = EvidenceBundleRecord(
        review_id=review_id,
        user_id=user.id if user is not None else None,
        filename=bundle.filename,
        created_at=datetime.fromisoformat(bundle.manifest["created_at"]),
        manifest_sha256=bundle.manifest_sha256,
        bundle_sha256=bundle.sha256,
        key_fingerprint=bundle.manifest["signature"]["public_key_fingerprint"],
    )
    session.add(record)
    session.flush()
    record_audit(
        session=session,
        user=user,
        action="evidence.download",
        object_type="review",
        object_id=review_id,
        before=None,
        after={
            "bundle_id": record.id,
            "filename": bundle.filename,
            "manifest_sha256": bundle.manifest_sha256,
            "bundle_sha256": bundle.sha256,
        },
    )
    session.commit()
    return bundle


def _capture_entry(c: Capture) -> dict[str, Any]:
    return {
        "file": WARC_NAME,
        "url": c.url,
        "status_code": c.status_code,
        "fetched_at": c.fetched_at.isoformat(),
        "warc_record_id": c.warc_record_id,
        "payload_sha256": c.payload_sha256,
    }


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
