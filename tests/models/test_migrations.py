"""The migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from models.base import Base
from models.migrate import alembic_config, current_revision
from scheduler.jobs import JOBSTORE_TABLE


def test_migrated_schema_matches_the_models(env: Path, db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            # The scheduler's job store manages its own table (a scheduler test run before this
            # one in the same database leaves it, with its index); the rest belongs to Alembic.
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "include_name": lambda name, kind, parents: (
                        kind != "table" or name != JOBSTORE_TABLE
                    ),
                },
            )
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_upgrade_is_at_head_and_downgrade_upgrade_round_trips(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/roundtrip.db"
    config = alembic_config(url)
    command.upgrade(config, "head")
    head = current_revision(url)
    command.downgrade(config, "base")
    assert current_revision(url) is None
    command.upgrade(config, "head")
    assert current_revision(url) == head
