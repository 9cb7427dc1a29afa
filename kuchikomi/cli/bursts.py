"""`kuchikomi bursts`: Burst and campaign detection."""

from __future__ import annotations

import typer

app = typer.Typer(help="Burst and campaign detection.", no_args_is_help=True)
