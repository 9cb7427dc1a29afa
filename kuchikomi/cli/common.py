"""Helpers every command uses: errors with the right exit code, output formats, the database.

A service's error (kuchikomi/errors.py) is turned into a one-line message and an exit code here,
once, by :class:`CommandGroup`, the ``kuchikomi`` command's group: commands do not catch them.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any, NoReturn

import typer
from pydantic import BaseModel
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from kuchikomi.errors import Conflict, DomainError, Throttled

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


FORMAT_HELP = (
    "table: for people (plain tab-separated lines when piped). json, or csv: for machines — "
    "UTF-8 without BOM, English column names, codes (harmful, defamation…) and ISO 8601 UTC "
    "times. For Excel in Japanese use the staff page's CSV export (BOM, Japanese names, "
    "Japan time)."
)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print a one-line error and exit; usage/input errors exit 2."""
    # The message often quotes what the user gave (a path, a URL, a line of a file): escaped, so
    # that "[...]" in it is printed as written rather than read as Rich markup (or refused by it).
    err_console.print(
        f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True, soft_wrap=True
    )
    raise typer.Exit(code)


def exit_code(error: DomainError) -> int:
    """Not found, forbidden and invalid are the caller's input (2); a conflict or a throttle is
    the work meeting a state that stops it for now (1)."""
    return EXIT_FAILED if isinstance(error, Conflict | Throttled) else EXIT_USAGE


class CommandGroup(TyperGroup):
    """The root group of ``kuchikomi``: every command runs inside :meth:`invoke`, so a domain
    error raised anywhere below ends as ``error: message`` on stderr and its exit code."""

    # ctx is typed Any: recent typer versions pass the Context of their own vendored click.
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except DomainError as exc:
            fail(str(exc), exit_code(exc))


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


# A column whose widest cell is longer than this is "long" (text, URLs): on a narrow terminal
# it is cut short with "…" while the short columns (ids, dates, names) keep their whole values.
_LONG_CELL = 24
_MIN_SHARE = 8  # the narrowest a shared column gets
_KEEP_WHOLE = 12  # never cut columns this narrow (ids, dates, flags)


def print_table(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str | None = None
) -> None:
    """Rows for people: a table on a terminal, one tab-separated line per row otherwise.

    Piped output (``| grep``, ``| less``, a file) gets plain lines: a title line starting with
    ``#``, the header, then one line per row with tabs and line breaks inside values turned into
    spaces, so every row stays one line. On a terminal every row is one line of the table too:
    short columns never wrap and long ones are cut with "…" when the terminal is narrow (80
    columns); ``--format json`` or ``csv`` give every value whole.
    """
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    if not sys.stdout.isatty():
        _print_plain(cells, columns, title)
        return
    from rich.cells import cell_len

    widths = [
        max([cell_len(column), *(cell_len(r[i]) for r in cells)])
        for i, column in enumerate(columns)
    ]
    console = Console(markup=False, highlight=False)
    # Short columns keep their whole width; long ones share what is left of the terminal. When
    # the short ones alone do not fit, the widest of them (names, not ids or dates) share too.
    # Without outer edges the borders and padding take 3 cells between columns.
    overhead = 3 * (len(widths) - 1)
    long = {i for i, w in enumerate(widths) if w > _LONG_CELL}

    def too_wide() -> bool:
        short = sum(w for i, w in enumerate(widths) if i not in long)
        return short + overhead + _MIN_SHARE * len(long) > console.width

    while too_wide():
        candidates = [i for i, w in enumerate(widths) if i not in long and w > _KEEP_WHOLE]
        if not candidates:
            break
        long.add(max(candidates, key=lambda i: widths[i]))
    room = console.width - overhead - sum(w for i, w in enumerate(widths) if i not in long)
    shown = list(widths)
    for n, i in enumerate(sorted(long, key=lambda i: widths[i])):
        shown[i] = max(min(widths[i], room // (len(long) - n)), _MIN_SHARE)
        room -= shown[i]
    table = Table(
        title=title,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        caption=(
            "(… = cut short; --format json or csv shows every value)" if shown != widths else None
        ),
    )
    for column, width in zip(columns, shown, strict=True):
        table.add_column(column, no_wrap=True, overflow="ellipsis", width=width)
    for row_cells in cells:
        # markup=False: review text is untrusted and must not be interpreted as rich markup.
        table.add_row(*row_cells)
    console.print(table)


def _print_plain(cells: list[list[str]], columns: Sequence[str], title: str | None) -> None:
    def one_line(value: str) -> str:
        return re.sub(r"[\t\r\n]+", " ", value)

    out = sys.stdout
    if title:
        out.write(f"# {title}\n")
    out.write("\t".join(columns) + "\n")
    for row_cells in cells:
        out.write("\t".join(one_line(v) for v in row_cells) + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    from rich.text import Text

    return Text(str(value)).plain
