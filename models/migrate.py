"""Run the Alembic migrations from code (``kuchikomi db upgrade`` and the tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

_HERE = Path(__file__).resolve().parent


def alembic_config(url: str | None = None) -> Config:
    config = Config(str(_HERE / "alembic.ini"))
    config.set_main_option("script_location", str(_HERE / "migrations"))
    if url is not None:
        # ConfigParser treats % as interpolation; URLs may hold percent-encoded passwords.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)
    _reinstall_summary_triggers(url)


def _reinstall_summary_triggers(url: str | None) -> None:
    """A later SQLite batch migration of ``review`` drops the summary's triggers (it rebuilds the
    table); put them back, recounting, once the schema has the summary tables."""
    from kuchikomi_settings import get_settings
    from models import summaries
    from models.db import make_engine

    engine = make_engine(url or get_settings().database_url)
    try:
        with engine.begin() as conn:
            summaries.install(conn)
    finally:
        engine.dispose()


def current_revision(url: str | None = None) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from kuchikomi_settings import get_settings
    from models.db import make_engine

    engine = make_engine(url or get_settings().database_url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
