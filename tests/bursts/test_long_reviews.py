"""A huge review costs burst detection no more than its first characters
(docs/contracts.md#text-limits): it is read from the database cut, and still found as a copy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from kuchikomi.services.bursts import detect_bursts
from tests.api.factories import make_clinic, make_review
from tests.detector.test_long_texts import LIMIT, _kanji


def test_a_huge_copy_is_found_by_its_opening(session: Session) -> None:
    clinic = make_clinic(session, "長文医院")
    listing = clinic.listings[0]
    copied = _kanji(LIMIT * 3 // 5, seed=11)
    day = datetime(2025, 5, 10, 1, 0, tzinfo=UTC)
    ids = [
        make_review(session, listing, text=text, posted_at=day + timedelta(hours=k)).id
        for k, text in enumerate(
            [
                copied,
                copied[:-40] + _kanji(40, seed=12),
                # Stored before texts were capped: 40 times the compared prefix.
                copied + _kanji(LIMIT * 40, seed=13),
            ]
        )
    ]

    bursts = detect_bursts(session=session, clinic_ids=[clinic.id])

    duplicates = [b for b in bursts if b.kind == "duplicate"]
    assert len(duplicates) == 1
    assert sorted(duplicates[0].review_ids) == sorted(ids)
