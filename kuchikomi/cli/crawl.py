"""``kuchikomi crawl``: one crawl run → classification → burst detection, with a run summary."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import typer
from sqlalchemy import select

from kuchikomi.cli.common import EXIT_FAILED, exit_code, fail, print_table, require_schema
from kuchikomi.schemas import MAX_DB_ID

if TYPE_CHECKING:
    from kuchikomi.services.crawl_budget import SiteLoad

app = typer.Typer()


@app.command("crawl")
def crawl(
    all_: bool = typer.Option(False, "--all", help="Crawl every registered listing."),
    clinic: list[int] = typer.Option(
        [],
        "--clinic",
        min=1,
        max=MAX_DB_ID,
        help="Crawl this clinic's listings (repeat for several).",
    ),
    full: bool = typer.Option(
        False, "--full", help="Read every page, not only new ones (also notices removed reviews)."
    ),
    format: str = typer.Option("table", "--format", help="table or json."),
    scrapyd: str | None = typer.Option(
        None,
        "--scrapyd",
        metavar="URL[,URL…]",
        help="Run the crawl on these Scrapyd nodes, one job per site "
        "(default: KUCHIKOMI_CRAWL__SCRAPYD_URLS; empty: on this machine).",
    ),
) -> None:
    """Crawl, classify new reviews and detect bursts; exit 1 if any listing failed.

    SIGTERM or Ctrl-C stops the crawl gracefully: what was fetched is stored, the run is
    recorded as interrupted, and the exit code is 1 (docs/operations.md#crawl-run-recovery).
    """
    from kuchikomi.services.crawl import StopRequested, sigterm_raises
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
    from kuchikomi.services.scrapyd.client import ScrapydError

    scrapyd_urls = None if scrapyd is None else [u.strip() for u in scrapyd.split(",") if u.strip()]
    try:
        # systemd and Docker stop a service with SIGTERM: stop like Ctrl-C, not in mid-write.
        with sigterm_raises():
            result = run_pipeline(
                listing_ids=listing_ids,
                trigger="cli",
                full=full,
                scrapyd_urls=scrapyd_urls,
                progress=lambda report: typer.echo(report.line(), err=True),
            )
    except LockHeldError as exc:
        # Caught only to add the advice (the scheduler logs the bare message); a Conflict's code.
        fail(f"{exc}; try again when it has finished", exit_code(exc))
    except ScrapydError as exc:
        fail(str(exc), EXIT_FAILED)
    except (StopRequested, KeyboardInterrupt) as exc:
        reason = str(exc) if isinstance(exc, StopRequested) else "interrupted (Ctrl-C)"
        fail(
            f"crawl {reason}: what was fetched is stored, the run is recorded as "
            "interrupted, and the next crawl finishes it",
            EXIT_FAILED,
        )

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
            "sites": [load.as_dict() for load in result.sites],
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
        _print_sites(result.sites)
        failed = [o for o in listings if o["status"] != "ok"]
        if failed:
            typer.echo(f"{len(failed)} of {len(listings)} listings failed", err=True)
    if not result.ok:
        raise typer.Exit(EXIT_FAILED)


# The site table lists the heaviest sites; the JSON output has every one.
_SITES_SHOWN = 20


def _print_sites(sites: list[SiteLoad]) -> None:
    """Pages per site against its nightly budget; a site needing more than a night is named."""
    print_table(
        [
            {
                **load.as_dict(),
                "budget": "-" if load.budget is None else load.budget,
                "nights": "-" if load.nights is None else f"{load.nights:.2f}",
            }
            for load in sites[:_SITES_SHOWN]
        ],
        ["site", "listings", "deferred", "pages", "budget", "nights", "stalest_days", "overdue"],
        title="pages per site against its nightly budget",
    )
    if len(sites) > _SITES_SHOWN:
        typer.echo(f"… and {len(sites) - _SITES_SHOWN} more sites (--format json lists all)")
    for load in sites:
        if load.over_budget:
            typer.echo(
                f"{load.site}: {load.pages} pages need {load.nights:.2f} nights at its budget "
                f"of {load.budget} pages per night",
                err=True,
            )
        if load.overdue:
            typer.echo(
                f"{load.site}: {load.overdue} listings not read within the last "
                "KUCHIKOMI_CRAWL__MAX_STALENESS_DAYS days",
                err=True,
            )
