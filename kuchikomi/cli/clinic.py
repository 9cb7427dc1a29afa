"""``kuchikomi clinic``: register clinics and their listing URLs."""

from __future__ import annotations

import typer

from kuchikomi.cli.common import (
    EXIT_FAILED,
    FORMAT_HELP,
    ListFormat,
    fail,
    print_json,
    print_table,
    require_schema,
)
from kuchikomi.schemas import MAX_DB_ID, ClinicPublic

app = typer.Typer(help="Clinics and their listing URLs.", no_args_is_help=True)


@app.command("add")
def add(
    name: str = typer.Option(..., "--name", help="Clinic name as shown to staff."),
    url: list[str] = typer.Option([], "--url", help="A listing URL (repeat for several)."),
    google_location: list[str] = typer.Option(
        [],
        "--google-location",
        help="A Google Business Profile location, accounts/A/locations/L (repeat for several; "
        "see `kuchikomi google locations`).",
    ),
    connection: int | None = typer.Option(
        None,
        "--connection",
        min=1,
        max=MAX_DB_ID,
        help="The Google connection that manages --google-location.",
    ),
) -> None:
    """Register a clinic with its listing URLs and/or Google locations; prints the clinic's id."""
    from kuchikomi.services import google as google_service
    from kuchikomi.services.clinics import GoogleListing, register_clinic
    from models.crypto import SecretKeyError
    from models.db import session_scope

    if not url and not google_location:
        fail("give at least one --url or --google-location")
    if google_location and connection is None:
        fail("--google-location needs --connection CONNECTION_ID (see `kuchikomi google connect`)")
    if connection is not None and not google_location:
        fail("--connection is only used with --google-location")
    require_schema()
    google_listings: list[GoogleListing] = []
    if google_location:
        assert connection is not None
        try:
            with session_scope() as session:
                google_listings = google_service.resolve_listings(
                    session=session, wanted=[(location, connection) for location in google_location]
                )
        except (google_service.GoogleError, SecretKeyError) as exc:
            fail(str(exc), EXIT_FAILED)
    with session_scope() as session:
        clinic = register_clinic(
            session=session, name=name, urls=url, google_listings=google_listings
        )
        clinic_id = clinic.id
    typer.echo(clinic_id)


@app.command("list")
def list_(
    format: ListFormat = typer.Option(ListFormat.table, "--format", help=FORMAT_HELP),
) -> None:
    """List registered clinics with their listings."""
    from kuchikomi.services.clinics import list_clinics
    from models.db import session_scope

    require_schema()
    with session_scope() as session:
        clinics = [ClinicPublic.model_validate(c) for c in list_clinics(session=session)]
    if format is ListFormat.json:
        print_json(clinics)
        return
    rows = [
        {
            "id": c.id,
            "name": c.name,
            "listings": [listing.url for listing in c.listings],
            "last_crawl": [listing.last_crawl_status or "-" for listing in c.listings],
        }
        for c in clinics
    ]
    if format is ListFormat.csv:
        from kuchikomi.cli.common import print_csv

        print_csv(rows, ["id", "name", "listings", "last_crawl"])
    else:
        print_table(rows, ["id", "name", "listings", "last_crawl"])
