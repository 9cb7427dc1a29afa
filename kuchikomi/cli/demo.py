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
    from kuchikomi_settings import get_settings
    from models.db import reset_engine

    get_settings.cache_clear()
    reset_engine()


def _demo_google_state(data_dir: Path) -> dict[str, str]:
    """The demo's secret key and its fake Google's clock, kept in its data directory so that a
    second run can decrypt the stored connection and sees the same reviews."""
    import json
    import secrets
    from datetime import UTC, datetime

    path = data_dir.resolve() / "demo-google.json"
    if path.exists():
        state: dict[str, str] = json.loads(path.read_text("utf-8"))
        return state
    state = {"secret_key": secrets.token_urlsafe(32), "now": datetime.now(UTC).isoformat()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(state), "utf-8")
    return state


def _use_demo_google(data_dir: Path, base_env: dict[str, str]) -> str:
    """Point the Google settings at the demo's fake Google; returns the fake's clock."""
    state = _demo_google_state(data_dir)
    os.environ.update(base_env)
    os.environ["KUCHIKOMI_SECRET_KEY"] = state["secret_key"]
    from kuchikomi_settings import get_settings

    get_settings.cache_clear()
    return state["now"]


def _register_demo_google(location: str) -> None:
    """The demo connection (a refresh token only the fake accepts) and a Google listing for the
    sample clinic of the same name as the fake's location."""
    from sqlalchemy import select

    from kuchikomi.demo.google_fake import DEMO_REFRESH_TOKEN
    from kuchikomi.services import google as google_service
    from kuchikomi.services.clinics import GoogleListing, add_google_listing
    from models import Clinic, GoogleConnection, Listing
    from models.db import session_scope

    with session_scope() as session:
        existing = session.scalars(
            select(GoogleConnection).where(GoogleConnection.label == DEMO_GOOGLE_LABEL)
        ).first()
        connection = google_service.save_connection(
            session=session,
            refresh_token=DEMO_REFRESH_TOKEN,
            label=DEMO_GOOGLE_LABEL,
            connection_id=existing.id if existing is not None else None,
        )
        if session.scalars(select(Listing).where(Listing.google_location == location)).first():
            return
        details = google_service.location_details(
            session=session, connection_id=connection.id, location=location
        )
        clinic = session.scalars(select(Clinic).where(Clinic.name == details.title)).first()
        if clinic is not None:
            add_google_listing(
                session=session,
                clinic=clinic,
                listing=GoogleListing(details.name, connection.id, details.maps_url),
            )


DEMO_GOOGLE_LABEL = "demo (local fake Google)"


def _port_in_use(host: str, port: int) -> str | None:
    """Why ``port`` cannot be served on ``host`` (None when it can). Bound the way the servers
    bind (address reuse on), so a port left in TIME_WAIT by the last run counts as free."""
    import socket

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
            probe.listen(1)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _check_ports(host: str, port: int, portal_port: int) -> None:
    """Refuse at once, naming the port, rather than after a minute of crawling."""
    if port == portal_port != 0:
        fail(f"--port and --portal-port are both {port}; give them different ports")
    for name, where, number, option in (
        ("the staff UI", host, port, "PORT"),
        ("the demo review portal", "127.0.0.1", portal_port, "PORTAL_PORT"),
    ):
        problem = _port_in_use(where, number) if number else None
        if problem is not None:
            fail(
                f"port {number} ({name}) is not available on {where}: {problem}. "
                f"Stop what uses it, or choose another: make demo {option}={number + 1} "
                f"(kuchikomi demo --{option.lower().replace('_', '-')} {number + 1})",
                EXIT_FAILED,
            )


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
    """Start the demo portal, register sample clinics, crawl and classify, then serve the UI.

    Both ports are checked first: a busy one is named at once (choose others with --port and
    --portal-port, or `make demo PORT=… PORTAL_PORT=…`)."""
    _check_ports(host, port if serve else 0, portal_port)  # 0: not served / any free port
    import uvicorn
    from sqlalchemy import select

    from api.app import create_app
    from kuchikomi.demo import google_fake
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
        # Google reviews without credentials: a local fake of Google's OAuth and Business Profile
        # APIs, one of whose locations is a sample clinic's.
        from datetime import datetime

        fake = google_fake.GoogleFake()
        google_url = stack.enter_context(google_fake.serve(fake))
        now = _use_demo_google(data_dir, google_fake.settings_env(fake))
        demo_google = google_fake.demo_fake(datetime.fromisoformat(now))
        fake.locations, fake.refresh_tokens = demo_google.locations, demo_google.refresh_tokens
        typer.echo(f"demo Google Business Profile API at {google_url}", err=True)
        with session_scope() as session:
            known = set(session.scalars(select(Listing.url)))
            for name, url in listing_urls(base_url):
                if url not in known:
                    register_clinic(session=session, name=name, urls=[url])
        _register_demo_google(fake.locations[0].name)
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
