"""`kuchikomi bursts`: Burst and campaign detection."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import typer

from kuchikomi.cli.common import (
    FORMAT_HELP,
    ListFormat,
    print_csv,
    print_json,
    print_table,
    require_schema,
)
from kuchikomi.japanese import JST
from kuchikomi.schemas import MAX_DB_ID, BurstPublic

app = typer.Typer(help="Burst and campaign detection.", no_args_is_help=True)

COLUMNS = ["id", "clinic_id", "kind", "start", "end", "observed", "expected", "score", "review_ids"]
TABLE_COLUMNS = ["id", "clinic", "kind", "days (JST)", "observed", "expected", "score"]


def _row(burst: BurstPublic) -> dict[str, Any]:
    return burst.model_dump(mode="json")


def _days(burst: BurstPublic) -> str:
    first = burst.start.astimezone(JST).date()
    # Day windows end at the next midnight (exclusive); other kinds end at their last review.
    last = (burst.end - timedelta(microseconds=1)).astimezone(JST).date()
    last = max(first, last)
    return f"{first:%Y-%m-%d}" if last == first else f"{first:%Y-%m-%d}〜{last:%m-%d}"


def _table_row(burst: BurstPublic) -> dict[str, Any]:
    # Days on the clinic's clock (Japan time); the JSON keeps exact UTC instants.
    return {
        "id": burst.id,
        "clinic": burst.clinic_id,
        "kind": burst.kind,
        "days (JST)": _days(burst),
        "observed": burst.observed,
        "expected": burst.expected,
        "score": burst.score,
    }


def _show(bursts: list[BurstPublic], format: ListFormat, title: str) -> None:
    if format is ListFormat.json:
        print_json(bursts)
    elif format is ListFormat.csv:
        print_csv([_row(b) for b in bursts], COLUMNS)
    else:
        print_table([_table_row(b) for b in bursts], TABLE_COLUMNS, title=title)


@app.command("detect")
def detect_(
    clinic: int | None = typer.Option(
        None, "--clinic", min=1, max=MAX_DB_ID, help="Only this clinic."
    ),
    format: ListFormat = typer.Option(ListFormat.table, "--format", help=FORMAT_HELP),
) -> None:
    """Run the detectors (all clinics, or one) and print the clinic's current burst records."""
    from kuchikomi.services.bursts import detect_bursts, list_burst_records
    from models.db import session_scope

    require_schema()
    with session_scope() as session:
        found = detect_bursts(session=session, clinic_ids=None if clinic is None else [clinic])
        records = {
            r.id: r for r in list_burst_records(session=session, burst_ids=[b.id for b in found])
        }
        bursts = [records[b.id] for b in found]
    _show(bursts, format, "bursts")


@app.command("list")
def list_(
    clinic: int | None = typer.Option(
        None, "--clinic", min=1, max=MAX_DB_ID, help="Only this clinic."
    ),
    format: ListFormat = typer.Option(ListFormat.table, "--format", help=FORMAT_HELP),
) -> None:
    """List stored burst records, newest first."""
    from kuchikomi.services.bursts import check_clinics, list_burst_records
    from models.db import session_scope

    require_schema()
    with session_scope() as session:
        ids = None if clinic is None else check_clinics(session, [clinic])
        bursts = list_burst_records(session=session, clinic_ids=ids)
    _show(bursts, format, "bursts")
