"""Small hand-made review timelines for the detector tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from detector import ReviewPoint

# A Monday, 12:00 in Japan.
MONDAY = datetime(2025, 1, 6, 3, 0, tzinfo=UTC)


class Timeline:
    def __init__(self) -> None:
        self.points: list[ReviewPoint] = []

    def add(
        self,
        clinic: int,
        day: int,
        count: int = 1,
        *,
        author: Callable[[int], str | None] | str | None = None,
        text: str = "",
        flagged: bool = False,
        rating: float | None = None,
    ) -> list[int]:
        ids = []
        for k in range(count):
            rid = len(self.points) + 1
            name = author(rid) if callable(author) else author
            self.points.append(
                ReviewPoint(
                    review_id=rid,
                    clinic_id=clinic,
                    time=MONDAY + timedelta(days=day, minutes=7 * k),
                    author=name,
                    text=text,
                    flagged=flagged,
                    rating=rating,
                )
            )
            ids.append(rid)
        return ids

    def daily(self, clinic: int, days: int, per_day: Callable[[int], int], **kw: object) -> None:
        for day in range(days):
            self.add(clinic, day, per_day(day), **kw)  # type: ignore[arg-type]
