"""``kuchikomi google``: connect a Google Business Profile account, list its locations."""

from __future__ import annotations

import sys

import typer

from kuchikomi.cli.common import (
    EXIT_FAILED,
    FORMAT_HELP,
    ListFormat,
    fail,
    print_csv,
    print_json,
    print_table,
    require_schema,
)
from kuchikomi.schemas import MAX_DB_ID

app = typer.Typer(
    help="Google Business Profile: connect an account (OAuth), list its locations.",
    no_args_is_help=True,
)


@app.command("connect")
def connect(
    refresh_token_stdin: bool = typer.Option(
        False,
        "--refresh-token-stdin",
        help="Read an existing refresh token from stdin instead of the browser consent.",
    ),
    connection: int | None = typer.Option(
        None,
        "--connection",
        min=1,
        max=MAX_DB_ID,
        help="Reconnect this existing connection (its listings keep it) instead of adding one.",
    ),
    label: str | None = typer.Option(
        None, "--label", help="A name for the connection, e.g. the Google account's e-mail."
    ),
) -> None:
    """Connect a Google account that manages the clinics' listings; prints the connection id.

    Opens nothing itself: it prints Google's consent URL, you open it in any browser, sign in
    with the account that manages the listings and allow access, then paste the code (or the
    whole address the browser was sent to) here. The refresh token is stored encrypted.
    """
    from kuchikomi.services import google as google_service
    from models import GoogleConnection
    from models.db import session_scope

    google_service.check_configured()
    require_schema()
    if connection is not None:
        with session_scope() as session:
            if session.get(GoogleConnection, connection) is None:
                fail(str(google_service.GoogleConnectionNotFound(connection)))
    try:
        if refresh_token_stdin:
            refresh_token = sys.stdin.readline().strip()
            if not refresh_token:
                fail("no refresh token on stdin")
            google_service.check_refresh_token(refresh_token)
        else:
            flow = google_service.ConsentFlow(google_service.check_configured())
            typer.echo(
                "Open this address in a browser, sign in with the Google account that manages "
                "the clinic listings, and allow access. The browser is then sent to "
                f"{google_service.REDIRECT_URI}…, which may fail to load: copy the code (or the "
                "whole address) from the address bar.\n"
                "ブラウザで次のアドレスを開き、ビジネスプロフィールを管理している"
                " Google アカウントでログインして許可してください。移動先のページが"
                "表示されなくても、アドレスバーのアドレス全体（または code= の値）を"
                "コピーして貼り付けてください。",
                err=True,
            )
            typer.echo(flow.url)
            pasted = typer.prompt("code", err=True)
            refresh_token = flow.exchange(pasted)
    except google_service.GoogleError as exc:
        fail(str(exc), EXIT_FAILED)
    with session_scope() as session:
        saved = google_service.save_connection(
            session=session, refresh_token=refresh_token, label=label, connection_id=connection
        )
        connection_id = saved.id
    typer.echo(
        f"connected; list its locations with `kuchikomi google locations {connection_id}`",
        err=True,
    )
    typer.echo(connection_id)


@app.command("locations")
def locations(
    connection: int = typer.Argument(
        ..., min=1, max=MAX_DB_ID, help="The connection id `google connect` printed."
    ),
    format: ListFormat = typer.Option(ListFormat.table, "--format", help=FORMAT_HELP),
) -> None:
    """List the locations the connection manages: {name, title, address}."""
    from kuchikomi.services import google as google_service
    from models.crypto import SecretKeyError
    from models.db import session_scope

    google_service.check_configured()
    require_schema()
    try:
        with session_scope() as session:
            found = google_service.list_locations(session=session, connection_id=connection)
    except (google_service.GoogleError, SecretKeyError) as exc:
        fail(str(exc), EXIT_FAILED)
    rows = [{"name": loc.name, "title": loc.title, "address": loc.address} for loc in found]
    if format is ListFormat.json:
        print_json(rows)
    elif format is ListFormat.csv:
        print_csv(rows, ["name", "title", "address"])
    else:
        print_table(rows, ["name", "title", "address"])
