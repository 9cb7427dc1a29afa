"""Helpers every command uses: errors with the right exit code, output formats, the database."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any, NoReturn

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

# csv_safe is shared with the web export; re-exported here for the commands.
from kuchikomi.services.export import csv_safe
from kuchikomi_settings import get_settings

# Exit codes (docs/contracts.md): 0 success, 1 the work ran but something failed, 2 bad usage/input.
EXIT_FAILED = 1
EXIT_USAGE = 2

err_console = Console(stderr=True)


class ListFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print a one-line error and exit; usage/input errors exit 2."""
    err_console.print(
        f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True
    )
    raise typer.Exit(code)


def require_schema() -> None:
    """Refuse to run against a database that has not been migrated, with the command to fix it."""
    from models.migrate import current_revision

    try:
        revision = current_revision()
    except Exception as exc:  # noqa: BLE001 - any driver error is reported the same way
        fail(f"cannot open the database {get_settings().database_url!r}: {exc}", EXIT_FAILED)
    if revision is None:
        fail("the database has no schema yet; run `kuchikomi db upgrade` first", EXIT_FAILED)


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


def print_json(rows: Iterable[Any]) -> None:
    sys.stdout.write(json.dumps([_plain(r) for r in rows], ensure_ascii=False, indent=2) + "\n")


def print_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    writer = csv.writer(sys.stdout)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(
            [
                csv_safe(json.dumps(v, ensure_ascii=False) if isinstance(v, list) else v)
                for v in (row.get(c) for c in columns)
            ]
        )


def print_table(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str | None = None
) -> None:
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        # markup=False: review text is untrusted and must not be interpreted as rich markup.
        table.add_row(*[_cell(row.get(c)) for c in columns])
    Console(markup=False).print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    from rich.text import Text

    return Text(str(value)).plain
