"""``kuchikomi db``: the schema."""

from __future__ import annotations

import typer

from kuchikomi.cli.common import EXIT_FAILED, fail
from kuchikomi_settings import get_settings

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Create or migrate the schema (Alembic)."""
    from kuchikomi.services.bursts import store_burst_records
    from models.db import session_scope
    from models.migrate import current_revision
    from models.migrate import upgrade as run_upgrade

    url = get_settings().database_url
    try:
        run_upgrade(url, revision)
        now = current_revision(url)
        if revision == "head":
            # Each burst's stored record (a migration cannot build it: docs/operations.md).
            with session_scope() as session:
                store_burst_records(session=session)
    except Exception as exc:  # noqa: BLE001 - shown to the operator as one line
        fail(f"migration failed on {url}: {exc}", EXIT_FAILED)
    typer.echo(f"database at revision {now}")


@app.command("refresh-stats")
def refresh_stats() -> None:
    """Recount the summary tables and refresh the query planner's statistics.

    For after a bulk load or a restore: the summaries are otherwise kept current by the database
    itself (docs/operations.md#summary-tables).
    """
    from kuchikomi.services.bursts import store_burst_records
    from models import summaries
    from models.db import get_engine, optimize_planner, session_scope

    engine = get_engine()
    with engine.begin() as conn:
        summaries.install(conn)
        summaries.recount(conn)
    with session_scope() as session:
        stored = store_burst_records(session=session)
    optimize_planner(engine, full=True)
    typer.echo(
        f"summary tables recounted; {stored} burst records stored; planner statistics refreshed"
    )
