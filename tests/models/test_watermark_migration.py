"""Migration 0008 gives existing listings a crawl watermark from what their last finished crawl
had stored, so a listing left behind by a killed run before the rule existed is repaired too
(docs/operations.md#crawl-run-recovery)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import MetaData, create_engine, insert, select

from models.migrate import alembic_config
from tests.conftest import POSTGRES_ENV, _postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/watermark.db"
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV}")
    yield from _postgres_database(base)


def test_watermark_from_the_last_finished_crawl(fresh_url: str) -> None:
    config = alembic_config(fresh_url)
    command.upgrade(config, "0007")
    engine = create_engine(fresh_url)
    tables = MetaData()
    tables.reflect(engine)
    clinic, listing, review = (
        tables.tables["clinic"],
        tables.tables["listing"],
        tables.tables["review"],
    )
    crawled = datetime(2025, 6, 1, 17, 0, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(insert(clinic).values(id=1, name="c", created_at=crawled))
        for listing_id, status in ((1, "ok"), (2, "failed"), (3, "ok"), (4, None)):
            conn.execute(
                insert(listing).values(
                    id=listing_id,
                    clinic_id=1,
                    url=f"https://example.jp/{listing_id}",
                    source="schema_org",
                    created_at=crawled,
                    last_crawl_at=crawled if status else None,
                    last_crawl_status=status,
                )
            )
        # Listing 1: two reviews read by its last finished crawl, then one stored by a run that
        # was killed afterwards (it left the listing "ok"). Listing 2's last crawl failed.
        for review_id, listing_id, seen in (
            (10, 1, crawled - timedelta(days=3)),
            (11, 1, crawled - timedelta(minutes=1)),
            (12, 1, crawled + timedelta(days=1)),
            (13, 2, crawled - timedelta(days=1)),
        ):
            conn.execute(
                insert(review).values(
                    id=review_id,
                    listing_id=listing_id,
                    external_id=f"r{review_id}",
                    posted_at_exact=True,
                    first_seen_at=seen,
                    last_seen_at=seen,
                    text="口コミ",
                    content_hash="0" * 64,
                )
            )

    command.upgrade(config, "head")

    tables = MetaData()
    tables.reflect(engine)
    listing = tables.tables["listing"]
    with engine.connect() as conn:
        marks = dict(conn.execute(select(listing.c.id, listing.c.crawl_watermark)).all())
    engine.dispose()
    # 1: up to what its finished crawl had read; 2 and 4: no finished crawl, read in full;
    # 3: finished with no reviews, so a page of known reviews may still end the next crawl.
    assert marks == {1: 11, 2: None, 3: 0, 4: None}
