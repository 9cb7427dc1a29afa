"""``kuchikomi serve``: the JSON API and the staff web UI under uvicorn.

Every route but the login page and the health check needs a login, so other addresses are
allowed; the default stays loopback, and a public address gets a reminder that passwords and
session cookies need HTTPS (a reverse proxy in front; cookies are marked Secure over https).
"""

from __future__ import annotations

import ipaddress

import typer

from kuchikomi.cli.common import require_schema

app = typer.Typer()


def _warn_without_accounts() -> None:
    from sqlalchemy import func, select

    from models import User
    from models.db import session_scope

    with session_scope() as session:
        users = session.scalar(select(func.count(User.id))) or 0
    if not users:
        typer.echo(
            "warning: there are no accounts yet, so nobody can log in; create one with "
            "`kuchikomi user add --email E --role admin --password-stdin`",
            err=True,
        )


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port to listen on."),
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        max=64,
        help="Worker processes (uvicorn's); each has its own connection pool "
        "(docs/operations.md#api-workers).",
    ),
) -> None:
    """Serve the JSON API (docs at /docs) and the staff web UI."""
    if not is_loopback(host):
        typer.echo(
            f"warning: listening on {host}, which is reachable from other machines: serve it "
            "behind an HTTPS reverse proxy so that passwords and session cookies never travel "
            "in clear (X-Forwarded-Proto is trusted from 127.0.0.1 only; for a proxy "
            "elsewhere set FORWARDED_ALLOW_IPS).",
            err=True,
        )
    require_schema()
    _warn_without_accounts()
    from models.db import get_engine, optimize_planner, reset_engine

    # A database filled by a bulk import may never have had planner statistics (SQLite).
    optimize_planner(get_engine())
    # The workers open their own connections; none is inherited from this process.
    reset_engine()
    import uvicorn

    typer.echo(f"serving on http://{host}:{port}/  (API docs at /docs; Ctrl-C to stop)", err=True)
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers)
