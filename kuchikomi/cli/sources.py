"""``kuchikomi sources``: whether each listing is really being read (crawl health)."""

from __future__ import annotations

import typer

from kuchikomi.cli.common import fail, print_json, print_table, require_schema

app = typer.Typer(help="Review sources: crawl health of every listing.", no_args_is_help=True)


@app.command("health")
def health(
    format: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """Each listing's crawl health: ok, layout_changed, blocked, gone, failing, needs_reconnect
    (empty until its first crawl)."""
    from kuchikomi.services.health import list_health
    from models.db import session_scope

    if format not in ("table", "json"):
        fail(f"unknown --format {format!r}; use table or json")
    require_schema()
    with session_scope() as session:
        rows = [row.as_dict() for row in list_health(session=session)]
    if format == "json":
        print_json(rows)
        return
    print_table(
        rows,
        ["listing_id", "clinic_id", "source", "url", "status", "since", "consecutive_failures"],
    )
    for row in rows:
        if row["status"] not in (None, "ok") and row["detail"]:
            typer.echo(f"listing {row['listing_id']}: {row['detail']}", err=True)
