"""The review filters, one type for every entry point that narrows the review list.

The JSON list and its CSV export (``/api/v1/reviews``, ``/api/v1/reviews.csv``) fill it from
their typed query parameters, the queue page (``/``) from its filter form; both turn it into the
arguments of :func:`kuchikomi.services.reviews.list_reviews` in :meth:`ReviewFilters.query`, so
what a filter means (a post-date range in Japan time, the latest decision) is said once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from kuchikomi.services.reviews import day_start


@dataclass(frozen=True)
class ReviewFilters:
    """Parsed filters; None everywhere means every review, newest first."""

    # True: the staff queue (most probably harmful first); False: reviews not flagged.
    flagged: bool | None = None
    clinic_id: int | None = None
    category: str | None = None
    # The site adapter that reads the listing (``schema_org``, …).
    source: str | None = None
    # "undecided", or the latest staff decision's value.
    decision: str | None = None
    # Posted on or after / on or before these days, in Japan time.
    posted_from: date | None = None
    posted_to: date | None = None

    def query(self) -> dict[str, Any]:
        """Keyword arguments for :func:`kuchikomi.services.reviews.list_reviews`."""
        return {
            "flagged": self.flagged,
            "clinic_id": self.clinic_id,
            "category": self.category,
            "source": self.source,
            "decision": self.decision,
            "posted_since": day_start(self.posted_from),
            "posted_before": (
                day_start(self.posted_to + timedelta(days=1)) if self.posted_to else None
            ),
        }
