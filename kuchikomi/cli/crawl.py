"""``kuchikomi crawl``: one crawl run → classification → burst detection, with a run summary."""

from __future__ import annotations

import json
import sys

import typer
from sqlalchemy import select

from kuchikomi.cli.common import EXIT_FAILED, fail, print_table, require_schema

app = typer.Typer()


@app.command("crawl")
def crawl(
    all_: bool = typer.Option(False, "--all", help="Crawl every registered listing."),
    clinic: list[int] = typer.Option(
        [], "--clinic", help="Crawl this clinic's listings (repeat for several)."
    ),
    full: bool = typer.Option(
        False, "--full", help="Read every page, not only new ones (also notices removed reviews)."
    ),
    format: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """Crawl, classify new reviews and detect bursts; exit 1 if any listing failed."""
    from kuchikomi.services.locks import LockHeldError
    from kuchikomi.services.pipeline import run_pipeline
    from models import Clinic, Listing
    from models.db import session_scope

    if format not in ("table", "json"):
        fail(f"unknown --format {format!r}; use table or json")
    if all_ == bool(clinic):
        fail("give either --all or --clinic ID")
    require_schema()
    listing_ids: list[int] | None = None
    if clinic:
        with session_scope() as session:
            known = set(session.scalars(select(Clinic.id).where(Clinic.id.in_(clinic))))
            missing = sorted(set(clinic) - known)
            if missing:
                fail(f"no clinic with id {', '.join(map(str, missing))}")
            listing_ids = list(
                session.scalars(select(Listing.id).where(Listing.clinic_id.in_(clinic)))
            )
        if not listing_ids:
            fail("the clinic has no listing URLs")
    try:
        result = run_pipeline(listing_ids=listing_ids, trigger="cli", full=full)
    except LockHeldError as exc:
        fail(f"{exc}; try again when it has finished", EXIT_FAILED)

    summary = result.crawl
    listings = [
        {
            "listing_id": o.listing_id,
            "clinic_id": o.clinic_id,
            "url": o.url,
            "status": o.status,
            "pages": o.pages,
            "reviews_seen": o.reviews_seen,
            "reviews_new": o.reviews_new,
            "reviews_removed": o.reviews_removed,
            "error": o.error,
        }
        for o in summary.listings
    ]
    if format == "json":
        report = {
            "run_id": summary.run_id,
            "status": summary.status,
            "started_at": summary.started_at.isoformat(),
            "finished_at": summary.finished_at.isoformat() if summary.finished_at else None,
            "listings": listings,
            "classified": result.classified,
            "bursts": result.bursts,
            "notifications": result.notifications,
        }
        sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    else:
        print_table(
            listings,
            [
                "listing_id",
                "clinic_id",
                "url",
                "status",
                "pages",
                "reviews_new",
                "reviews_seen",
                "reviews_removed",
                "error",
            ],
            title=f"crawl run {summary.run_id}: {summary.status}",
        )
        typer.echo(
            f"{sum(o.reviews_new for o in summary.listings)} new reviews, "
            f"{result.classified} classified, {len(result.bursts)} bursts"
        )
        failed = [o for o in listings if o["status"] != "ok"]
        if failed:
            typer.echo(f"{len(failed)} of {len(listings)} listings failed", err=True)
    if not result.ok:
        raise typer.Exit(EXIT_FAILED)
