"""``kuchikomi reviews``: reviews in the database (``list``, ``import``).

Other modules add commands to :data:`app`, so keep it here under this name.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from kuchikomi.cli.common import (
    EXIT_FAILED,
    FORMAT_HELP,
    ListFormat,
    err_console,
    exit_code,
    fail,
    print_csv,
    print_json,
    print_table,
    require_schema,
)
from kuchikomi.schemas import MAX_DB_ID, Category, ReviewPublic
from kuchikomi.services.importer import ImportFormat

app = typer.Typer(help="Reviews in the database.", no_args_is_help=True)

# The contract's review fields first (docs/contracts.md), then what staff also need; CSV keeps
# this order.
CSV_COLUMNS = [
    "id",
    "clinic_id",
    "listing_url",
    "external_id",
    "author",
    "rating",
    "posted_at",
    "first_seen_at",
    "removed_at",
    "text",
    "url",
    "label",
    "category",
    "harmful_probability",
    "flagged",
    "clinic_name",
    "posted_at_raw",
    "posted_at_exact",
    "reasons",
    "model_version",
]
TABLE_COLUMNS = ["id", "clinic", "posted", "author", "category", "prob", "flag", "text"]
TABLE_TEXT_CHARS = 60

# Big enough that a long listing takes few queries, small enough to stay one cheap round trip.
_BATCH = 200


def _all_reviews(
    *, flagged: bool | None, clinic_id: int | None, category: str | None, limit: int | None
) -> Iterator[ReviewPublic]:
    """Walk the keyset pages; each batch in its own short session."""
    from kuchikomi.services.reviews import list_reviews
    from models.db import session_scope

    cursor: str | None = None
    remaining = limit
    while True:
        batch = _BATCH if remaining is None else min(_BATCH, remaining)
        with session_scope() as session:
            page = list_reviews(
                session=session,
                flagged=flagged,
                clinic_id=clinic_id,
                category=category,
                cursor=cursor,
                limit=batch,
            )
        yield from page.items
        if remaining is not None:
            remaining -= len(page.items)
        if page.next_cursor is None or remaining == 0:
            return
        cursor = page.next_cursor


def _table_row(review: ReviewPublic) -> dict[str, Any]:
    text = " ".join(review.text.split())
    if len(text) > TABLE_TEXT_CHARS:
        text = text[: TABLE_TEXT_CHARS - 1] + "…"
    return {
        "id": review.id,
        "clinic": review.clinic_name,
        "posted": review.posted_at.date().isoformat() if review.posted_at else "",
        "author": review.author,
        "category": review.category or review.label or "",
        "prob": review.harmful_probability,
        "flag": "yes" if review.flagged else "",
        "text": text,
    }


def _csv_row(review: ReviewPublic) -> dict[str, Any]:
    # mode="json": times as ISO 8601 strings and booleans as true/false, as in the JSON output.
    row = review.model_dump(mode="json")
    return {k: ("true" if v else "false") if isinstance(v, bool) else v for k, v in row.items()}


@app.command("list")
def list_(
    flagged: bool = typer.Option(
        False, "--flagged", help="Only flagged reviews, most probably harmful first."
    ),
    clinic: int | None = typer.Option(
        None, "--clinic", min=1, max=MAX_DB_ID, help="Only this clinic's reviews."
    ),
    category: Category | None = typer.Option(None, "--category", help="Only this category."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most this many reviews."),
    format: ListFormat = typer.Option(ListFormat.table, "--format", help=FORMAT_HELP),
) -> None:
    """List reviews with their classification (newest first; --flagged: the staff queue)."""
    require_schema()
    reviews = list(
        _all_reviews(
            flagged=True if flagged else None,
            clinic_id=clinic,
            category=category.value if category else None,
            limit=limit,
        )
    )
    if format is ListFormat.json:
        print_json(reviews)
    elif format is ListFormat.csv:
        print_csv([_csv_row(r) for r in reviews], CSV_COLUMNS)
    else:
        title = "flagged reviews" if flagged else "reviews"
        print_table([_table_row(r) for r in reviews], TABLE_COLUMNS, title=title)


@app.command("import")
def import_(
    file: Path = typer.Argument(..., help="The export to import ('-' reads standard input)."),
    format: ImportFormat = typer.Option(
        ImportFormat.jsonl, "--format", help="jsonl (our contract) or apify (Google Maps export)."
    ),
    listing: str | None = typer.Option(
        None, "--listing", help="apify: the registered listing URL all reviews belong to."
    ),
) -> None:
    """Import reviews exported elsewhere; bad lines are reported by number and skipped.

    New reviews are classified and the clinics' bursts re-detected. Reviews already stored are
    left as they are, so importing the same file twice changes nothing. Exit 1 when lines
    were skipped.
    """
    from classifier import ModelLoadError, ModelNotFoundError
    from kuchikomi.services.importer import ImportFileError, run_import

    require_schema()
    try:
        data = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
    try:
        run = run_import(data=data, format=format, listing_url=listing)
    except ImportFileError as exc:
        # Caught only to name the file; the exit code is the one of every Invalid.
        fail(f"{file}: {exc}", exit_code(exc))
    except (ModelNotFoundError, ModelLoadError) as exc:
        fail(str(exc), EXIT_FAILED)
    result = run.result
    for problem in result.problems:
        err_console.print(
            f"{file}:{problem.line}: {problem.message}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    typer.echo(
        f"read {result.read}, imported {result.imported}, already present "
        f"{result.already_present}, skipped {result.skipped}; classified {run.classified}; "
        f"bursts {run.bursts}"
    )
    if result.problems:
        raise typer.Exit(EXIT_FAILED)
