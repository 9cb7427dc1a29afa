"""Takedown cases: one per review, from the first draft to the platform's answer (docs/domain.md).

A case moves ``draft → sent → removed | refused | no_answer`` (the allowed moves are in
:mod:`kuchikomi.services.cases`). The edited 送信防止措置依頼書 fields are kept on the case so that
what was sent can be shown later exactly as it was.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, JSONType, utcnow
from models.tables import Review


class CaseStatus(StrEnum):
    draft = "draft"
    sent = "sent"
    removed = "removed"
    refused = "refused"
    no_answer = "no_answer"


class TakedownCase(Base):
    __tablename__ = "takedown_case"

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("review.id", ondelete="CASCADE"), unique=True)
    # A CaseStatus value.
    status: Mapped[str] = mapped_column(String(16), default=CaseStatus.draft.value, index=True)
    # The 送信防止措置依頼書 fields as edited by staff ({field name: text}); fields not edited
    # are absent and filled from the review when the draft is rendered.
    draft: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Where the request went: a route key of kuchikomi.services.takedown (platform form, …).
    sent_via: Mapped[str | None] = mapped_column(String(32))
    # Calendar days as staff enter them (the day the request was sent / answered).
    sent_on: Mapped[date | None] = mapped_column(Date)
    resolved_on: Mapped[date | None] = mapped_column(Date)
    # Set when a complete crawl no longer showed the review after the request was sent: the
    # proof that the takedown worked (a claim by the platform alone leaves this empty).
    removal_confirmed_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    review: Mapped[Review] = relationship()
