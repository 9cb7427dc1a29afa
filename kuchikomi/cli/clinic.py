"""``kuchikomi clinic``: register clinics and their listing URLs."""

from __future__ import annotations

import typer

from kuchikomi.cli.common import ListFormat, fail, print_json, print_table, require_schema
from kuchikomi.schemas import ClinicPublic

app = typer.Typer(help="Clinics and their listing URLs.", no_args_is_help=True)


@app.command("add")
def add(
    name: str = typer.Option(..., "--name", help="Clinic name as shown to staff."),
    url: list[str] = typer.Option(..., "--url", help="A listing URL (repeat for several)."),
) -> None:
    """Register a clinic and its listing URLs; prints the new clinic's id."""
    from kuchikomi.services.clinics import RegistrationError, register_clinic
    from models.db import session_scope

    require_schema()
    try:
        with session_scope() as session:
            clinic = register_clinic(session=session, name=name, urls=url)
            clinic_id = clinic.id
    except RegistrationError as exc:
        fail(str(exc))
    typer.echo(clinic_id)


@app.command("list")
def list_(
    format: ListFormat = typer.Option(ListFormat.table, "--format", help="table, json or csv."),
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
