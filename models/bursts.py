"""bursts tables (see models/__init__.py): burst records and their member reviews.

One ``burst`` row per detected burst of one clinic (kinds in ``detector.types``); ``burst_review``
links it to the reviews that make it up. Re-detection updates rows in place (matched by clinic,
kind and overlapping window), so running the detectors again never duplicates a burst.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, JSONType, utcnow


class Burst(Base):
    __tablename__ = "burst"
    __table_args__ = (Index("ix_burst_clinic_kind_start", "clinic_id", "kind", "window_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    # "volume" | "harmful" | "rating_drop" | "duplicate" | "author"
    kind: Mapped[str] = mapped_column(String(16))
    # The window (end exclusive for day windows; the last member's time for duplicate/author).
    start: Mapped[datetime] = mapped_column("window_start")
    end: Mapped[datetime] = mapped_column("window_end")
    # Counts for volume/harmful; mean star ratings for rating_drop; see details otherwise.
    observed: Mapped[float] = mapped_column(Float)
    expected: Mapped[float] = mapped_column(Float)
    # -log10 of the tail probability for the timeline kinds; a size for duplicate/author.
    score: Mapped[float] = mapped_column(Float)
    # Share of the member reviews flagged by the classifier.
    harmful_share: Mapped[float] = mapped_column(Float)
    # When a nightly run could first have raised it (from the data available then).
    alarm_at: Mapped[datetime]
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    detected_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The record as GET /api/v1/bursts serves it to staff (JSON of kuchikomi.schemas.BurstPublic),
    # written after each detection by kuchikomi.services.bursts in the shape ``record_schema``
    # names, so that the listing need not read every member row. Triggers (models/summaries.py)
    # set it NULL — "build it from the rows" — when a member or a column the record shows
    # changes, whoever changes it; a column added to the record belongs in their list too.
    record_json: Mapped[str | None] = mapped_column(Text, deferred=True)
    record_schema: Mapped[str | None] = mapped_column(String(16), deferred=True)

    members: Mapped[list[BurstReview]] = relationship(
        back_populates="burst",
        cascade="all, delete-orphan",
        order_by="BurstReview.review_id",
        lazy="selectin",
    )

    @property
    def review_ids(self) -> list[int]:
        return [m.review_id for m in self.members]


class BurstReview(Base):
    """A review that is part of a burst."""

    __tablename__ = "burst_review"

    burst_id: Mapped[int] = mapped_column(
        ForeignKey("burst.id", ondelete="CASCADE"), primary_key=True
    )
    review_id: Mapped[int] = mapped_column(
        ForeignKey("review.id", ondelete="CASCADE"), primary_key=True, index=True
    )

    burst: Mapped[Burst] = relationship(back_populates="members")
