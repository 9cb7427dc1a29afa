"""``kuchikomi demo``: a local demo portal, sample clinics, one crawl, and the staff UI.

Runs on embedded defaults in its own data directory (``./var/demo``), so it never touches the
operator's real database: SQLite there, local hosts allowed, a short crawl delay (the portal is
ours and local; real sites keep the polite default of ≥ 1 s).
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path

import typer

from kuchikomi.cli.common import EXIT_FAILED, fail

app = typer.Typer()

DEMO_ADMIN = "demo-admin@example.jp"


def _demo_admin_password() -> str:
    """The demo's administrator, with a fresh random password each run (printed for the user)."""
    import secrets

    from kuchikomi.services.accounts import create_user, get_user_by_email, set_password
    from models.db import session_scope

    password = secrets.token_urlsafe(12)
    with session_scope() as session:
        user = get_user_by_email(session=session, email=DEMO_ADMIN)
        if user is None:
            create_user(session=session, email=DEMO_ADMIN, role="admin", password=password)
        else:
            set_password(session=session, user=user, password=password)
    return password


def _use_demo_settings(data_dir: Path) -> None:
    # The crawl runs in a subprocess that reads its settings from the environment, so the demo's
    # defaults are set there (not only in this process's settings object).
    data_dir = data_dir.resolve()
    os.environ["KUCHIKOMI_DATA_DIR"] = str(data_dir)
    os.environ["KUCHIKOMI_DATABASE_URL"] = f"sqlite:///{data_dir / 'kuchikomi.db'}"
    os.environ["KUCHIKOMI_ALLOW_PRIVATE_HOSTS"] = "true"
    os.environ["KUCHIKOMI_CRAWL__DOWNLOAD_DELAY"] = "0.1"
    os.environ["KUCHIKOMI_CRAWL__AUTOTHROTTLE"] = "false"
    from kuchikomi.settings import get_settings
    from models.db import reset_engine

    get_settings.cache_clear()
    reset_engine()


@app.command("demo")
def demo(
    host: str = typer.Option("127.0.0.1", help="Address of the staff UI."),
    port: int = typer.Option(8000, help="Port of the staff UI."),
    portal_port: int = typer.Option(8765, help="Port of the local demo review portal."),
    data_dir: Path = typer.Option(Path("var/demo"), help="Where the demo keeps its database."),
    serve: bool = typer.Option(
        True, help="Serve the UI after crawling (--no-serve to stop there)."
    ),
) -> None:
    """Start the demo portal, register sample clinics, crawl and classify, then serve the UI."""
    import uvicorn
    from sqlalchemy import select

    from api.app import create_app
    from kuchikomi.demo.portal import listing_urls, running_portal
    from kuchikomi.services.classification import ensure_model
    from kuchikomi.services.clinics import register_clinic
    from kuchikomi.services.pipeline import run_pipeline
    from models import Listing
    from models.db import session_scope
    from models.migrate import upgrade

    _use_demo_settings(data_dir)
    typer.echo(f"demo data in {data_dir.resolve()}", err=True)
    upgrade()
    with ExitStack() as stack:
        try:
            base_url = stack.enter_context(running_portal(port=portal_port))
        except OSError as exc:
            fail(f"cannot start the demo portal on port {portal_port}: {exc}", EXIT_FAILED)
        typer.echo(f"demo review portal at {base_url}", err=True)
        with session_scope() as session:
            known = set(session.scalars(select(Listing.url)))
            for name, url in listing_urls(base_url):
                if url not in known:
                    register_clinic(session=session, name=name, urls=[url])
        typer.echo("preparing the classifier model (trained once, then reused)…", err=True)
        ensure_model()
        result = run_pipeline(listing_ids=None, trigger="demo")
        for outcome in result.crawl.listings:
            mark = "ok" if outcome.status == "ok" else f"FAILED: {outcome.error}"
            typer.echo(
                f"  {outcome.url}: {outcome.reviews_new} new of {outcome.reviews_seen} ({mark})",
                err=True,
            )
        typer.echo(
            f"crawl run {result.crawl.run_id}: {result.crawl.status}, "
            f"{result.classified} reviews classified, {len(result.bursts)} bursts",
            err=True,
        )
        if not serve:
            return
        password = _demo_admin_password()
        typer.echo(f"staff UI: http://{host}:{port}/  (Ctrl-C to stop)", err=True)
        typer.echo(f"log in as {DEMO_ADMIN} with the password {password}", err=True)
        uvicorn.run(create_app(), host=host, port=port, log_level="warning")
