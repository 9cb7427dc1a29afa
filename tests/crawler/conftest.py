"""Sites served on 127.0.0.1 by the tests: the demo portal, and small pages written by a test."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from kuchikomi.demo.portal import DemoPortal, listing_urls, serve
from kuchikomi.services.clinics import register_clinic
from models import Listing

# A fixed "today" so the portal's pages (dates, hash ids) do not change at midnight mid-test.
PORTAL_TODAY = date(2025, 6, 1)


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class FixtureSite:
    """Pages a test writes (path with query → Route); unknown paths answer 404. Counts hits."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.base_url = ""

    def add(self, path: str, body: str | bytes = b"", **kwargs: Any) -> str:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.routes[path] = Route(body=data, **kwargs)
        return self.base_url + path

    def handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                site.hits[self.path] += 1
                route = site.routes.get(self.path, Route(b"not found", 404, "text/plain"))
                if route.delay:
                    time.sleep(route.delay)
                try:
                    self.send_response(route.status)
                    self.send_header("Content-Type", route.content_type)
                    self.send_header("Content-Length", str(len(route.body)))
                    for key, value in route.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(route.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the crawler gave up waiting (timeout tests)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        return Handler


@pytest.fixture
def site() -> Iterator[FixtureSite]:
    fixture_site = FixtureSite()
    server = ThreadingHTTPServer(("127.0.0.1", 0), fixture_site.handler())
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    fixture_site.base_url = f"http://{host}:{port}"
    yield fixture_site
    server.shutdown()
    server.server_close()


@pytest.fixture
def demo_portal() -> DemoPortal:
    return DemoPortal(today=PORTAL_TODAY)


@pytest.fixture
def portal_url(demo_portal: DemoPortal) -> Iterator[str]:
    with serve(demo_portal) as base_url:
        yield base_url


def register(session: Session, name: str, *urls: str) -> list[int]:
    """Register a clinic; returns its listing ids in URL order."""
    clinic = register_clinic(session=session, name=name, urls=list(urls))
    session.commit()
    return [listing.id for listing in clinic.listings]


def register_portal(session: Session, base_url: str) -> dict[str, int]:
    """Every demo clinic; returns clinic name → listing id."""
    ids = {}
    for name, url in listing_urls(base_url):
        (ids[name],) = register(session, name, url)
    return ids


def listing(session: Session, listing_id: int) -> Listing:
    found = session.get(Listing, listing_id)
    assert found is not None
    session.refresh(found)
    return found


def crawl_log(data_dir: Path, run_id: int) -> str:
    return (data_dir / "logs" / f"crawl-run-{run_id}.log").read_text("utf-8")
