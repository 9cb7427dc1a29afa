"""The dashboard's per-listing review counts follow every writer, and survive schema rebuilds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, insert, text, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from kuchikomi.cli import app
from kuchikomi.services.dashboard import clinic_summaries
from models import Clinic, Review
from models.base import utcnow
from models.db import get_engine
from models.migrate import upgrade
from tests.api.factories import make_clinic, make_review

runner = CliRunner()


def _counts(session: Session) -> dict[str, tuple[int, int, int]]:
    session.expire_all()
    return {
        s.name: (s.reviews, s.flagged, s.removed)
        for s in clinic_summaries(session=session, clinic_ids=None)
    }


def test_counts_follow_inserts_removals_deletes_and_bulk_loads(session: Session) -> None:
    a = make_clinic(session, "A", listings=2)
    b = make_clinic(session, "B")
    first = make_review(session, a.listings[0], probability=0.9)
    make_review(session, a.listings[1], probability=0.1)
    make_review(session, b.listings[0])
    assert _counts(session) == {"A": (2, 1, 0), "B": (1, 0, 0)}

    # The crawler marks a review removed from the site, and later sees it again.
    first.removed_at = datetime(2025, 5, 1, tzinfo=UTC)
    session.commit()
    assert _counts(session)["A"] == (2, 1, 1)
    session.execute(update(Review).where(Review.id == first.id).values(removed_at=None))
    session.commit()
    assert _counts(session)["A"] == (2, 1, 0)

    # A bulk load that bypasses the ORM is counted too.
    session.execute(
        insert(Review),
        [
            {
                "listing_id": b.listings[0].id,
                "external_id": f"bulk-{i}",
                "text": "普通の口コミ",
                "content_hash": f"bulk-{i}",
                "removed_at": datetime(2025, 5, 2, tzinfo=UTC) if i == 0 else None,
            }
            for i in range(3)
        ],
    )
    session.commit()
    assert _counts(session)["B"] == (4, 0, 1)

    # Re-classification moves the flagged counts, and recent means first seen in 30 days.
    assert first.classification is not None
    first.classification.flagged = False
    session.commit()
    assert _counts(session)["A"] == (2, 0, 0)
    first.classification.flagged = True
    first.first_seen_at = utcnow()
    session.commit()
    summaries = {s.name: s for s in clinic_summaries(session=session, clinic_ids=None)}
    assert (summaries["A"].flagged, summaries["A"].flagged_recent) == (1, 1)

    session.execute(delete(Review).where(Review.id == first.id))
    session.commit()
    assert _counts(session)["A"] == (1, 0, 0)
    # Deleting a clinic deletes its listings and reviews (and their counts) with it.
    session.delete(session.get(Clinic, b.id))
    session.commit()
    assert _counts(session) == {"A": (1, 0, 0)}


def test_upgrade_restores_dropped_triggers_and_refresh_recounts(
    env: Path, db_url: str, session: Session
) -> None:
    clinic = make_clinic(session, "A")
    make_review(session, clinic.listings[0])
    # What an SQLite batch migration that rebuilds the review table leaves behind: no triggers.
    with get_engine().begin() as conn:
        if conn.dialect.name == "sqlite":
            for name in ("insert", "delete", "update"):
                conn.execute(text(f"DROP TRIGGER trg_review_count_{name}"))
                conn.execute(text(f"DROP TRIGGER trg_flagged_review_{name}"))
        else:
            conn.execute(text("DROP TRIGGER trg_review_count ON review"))
            conn.execute(text("DROP TRIGGER trg_flagged_review ON classification"))
    make_review(session, clinic.listings[0], probability=0.9)
    assert _counts(session)["A"] == (1, 0, 0)  # stale

    upgrade(db_url)
    assert _counts(session)["A"] == (2, 1, 0)
    make_review(session, clinic.listings[0], probability=0.8)
    assert _counts(session)["A"] == (3, 2, 0)

    with get_engine().begin() as conn:
        conn.execute(text("UPDATE listing_review_count SET reviews = 0"))
    result = runner.invoke(app, ["db", "refresh-stats"])
    assert result.exit_code == 0, result.output
    assert "recounted" in result.output
    assert _counts(session)["A"] == (3, 2, 0)
