"""``kuchikomi serve``: the JSON API and the staff web UI under uvicorn.

There are no accounts yet (a later issue adds them), so the default address is loopback only;
another address is allowed — an operator may sit behind a proxy — but said aloud on stderr.
"""

from __future__ import annotations

import ipaddress

import typer

from kuchikomi.cli.common import require_schema

app = typer.Typer()


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
) -> None:
    """Serve the JSON API (docs at /docs) and the staff web UI."""
    if not is_loopback(host):
        typer.echo(
            f"warning: listening on {host}, which is reachable from other machines, and there "
            "are no accounts yet: anyone who can reach it can read every review and register "
            "clinics. Put it behind an authenticating proxy or use --host 127.0.0.1.",
            err=True,
        )
    require_schema()
    import uvicorn

    typer.echo(f"serving on http://{host}:{port}/  (API docs at /docs; Ctrl-C to stop)", err=True)
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port)
