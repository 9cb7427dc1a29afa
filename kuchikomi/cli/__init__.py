"""The ``kuchikomi`` command: composes the stages (crawler, classifier, detectors, API).

Each command group lives in its own module; this module only assembles them. Modules whose
``app`` is added without a name contribute top-level commands (``crawl``, ``classify``, ``serve``,
``demo``).
"""

from __future__ import annotations

import typer

from kuchikomi.cli import (
    accounts,
    bursts,
    classify,
    clinic,
    crawl,
    db,
    demo,
    evidence,
    google,
    model,
    notify,
    reviews,
    scheduler,
    serve,
    sites,
    sources,
)
from kuchikomi.cli.common import CommandGroup

app = typer.Typer(
    name="kuchikomi",
    cls=CommandGroup,
    help="kuchikomi-guard: watch public reviews of clinics and find the malicious ones.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db.app, name="db")
app.add_typer(clinic.app, name="clinic")
app.add_typer(crawl.app)
app.add_typer(reviews.app, name="reviews")
app.add_typer(classify.app)
app.add_typer(model.app, name="model")
app.add_typer(bursts.app, name="bursts")
app.add_typer(serve.app)
app.add_typer(scheduler.app, name="scheduler")
app.add_typer(demo.app)
app.add_typer(evidence.app, name="evidence")
app.add_typer(accounts.user_app, name="user")
app.add_typer(accounts.token_app, name="token")
app.add_typer(notify.app, name="notify")
app.add_typer(sites.app, name="sites")
app.add_typer(sources.app, name="sources")
app.add_typer(google.app, name="google")


def main() -> None:
    app()
