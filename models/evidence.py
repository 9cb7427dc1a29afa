"""The server's record of every evidence bundle it issued (docs/domain.md#evidence).

One row per download: the bundle's manifest SHA-256 identifies it (the manifest is what the
signature covers), so the association can later tell whether a bundle shown to it is one it
issued, when and to whom.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class EvidenceBundleRecord(Base):
    """No foreign keys, like the audit log: the record must outlive the review and the user."""

    __tablename__ = "evidence_bundle"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    review_id: Mapped[int] = mapped_column(index=True)
    user_id: Mapped[int | None]
    filename: Mapped[str] = mapped_column(String(255))
    manifest_sha256: Mapped[str] = mapped_column(String(64), index=True)
    bundle_sha256: Mapped[str] = mapped_column(String(64))
    # "sha256:<hex>" of the public key whose private half signed the manifest.
    key_fingerprint: Mapped[str] = mapped_column(String(80))
