"""Migration 0013 and ``kuchikomi db upgrade``: bursts stored before it get their staff record,
and from then on the database drops a record whose burst changed (models/summaries.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from pydantic import TypeAdapter
from sqlalchemy import MetaData, create_engine, delete, insert, select
from typer.testing import CliRunner

from kuchikomi.cli import app
from kuchikomi.schemas import BurstPublic
from kuchikomi.services.bursts import list_burst_records, staff_burst_records_json
from models import Burst, BurstReview
from models.db import new_session
from models.migrate import alembic_config
from tests.conftest import POSTGRES_ENV, _postgres_database, use_test_settings

runner = CliRunner()


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/bursts.db"
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV}")
    yield from _postgres_database(base)


def test_upgrade_stores_the_records_of_earlier_bursts(
    fresh_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    command.upgrade(alembic_config(fresh_url), "0012")
    engine = create_engine(fresh_url)
    tables = MetaData()
    tables.reflect(engine)
    t = tables.tables
    at = datetime(2025, 6, 1, 3, 0, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(insert(t["clinic"]).values(id=1, name="c", created_at=at))
        conn.execute(
            insert(t["listing"]).values(
                id=1, clinic_id=1, url="https://example.jp/1", source="schema_org", created_at=at
            )
        )
        for review_id in (11, 12, 13):
            conn.execute(
                insert(t["review"]).values(
                    id=review_id,
                    listing_id=1,
                    external_id=f"r{review_id}",
                    text="口コミ",
                    content_hash=f"{review_id:064x}",
                    posted_at_exact=True,
                    first_seen_at=at,
                    last_seen_at=at,
                )
            )
        conn.execute(
            insert(t["burst"]).values(
                id=5,
                clinic_id=1,
                kind="volume",
                window_start=at,
                window_end=at + timedelta(days=1),
                observed=3.0,
                expected=0.5,
                score=4.25,
                harmful_share=1.0,
                alarm_at=at,
                details={"window_days": 1},
                detected_at=at,
                updated_at=at,
            )
        )
        conn.execute(
            insert(t["burst_review"]), [{"burst_id": 5, "review_id": r} for r in (13, 11, 12)]
        )
    engine.dispose()

    with use_test_settings(fresh_url, tmp_path / "var", monkeypatch):
        result = runner.invoke(app, ["db", "upgrade"])
        assert result.exit_code == 0, result.output
        with new_session() as session:
            assert session.scalar(select(Burst.record_json).where(Burst.id == 5)) is not None
            listed = staff_burst_records_json(session=session)
            built = [
                TypeAdapter(BurstPublic).dump_json(r) for r in list_burst_records(session=session)
            ]
            assert listed == built
            record = BurstPublic.model_validate_json(listed[0])
            assert record.review_ids == [11, 12, 13] and record.score == 4.25

            # The migration's triggers: a member gone drops the stored record.
            session.execute(delete(BurstReview).where(BurstReview.review_id == 12))
            session.commit()
            assert session.scalar(select(Burst.record_json).where(Burst.id == 5)) is None
            listed = staff_burst_records_json(session=session)
            assert BurstPublic.model_validate_json(listed[0]).review_ids == [11, 13]
