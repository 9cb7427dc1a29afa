"""The page as a person saw it (issue 13, item 15): the archived HTML replayed in Chromium with
nothing fetched again, kept in the bundle as a full-page PDF and PNG under a header line with the
URL, the capture time in Japan time and the page's SHA-256; without Chromium the bundle says so."""

from __future__ import annotations

import io
import json
import shutil
import threading
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader
from sqlalchemy.orm import Session

from kuchikomi.services.evidence import MANIFEST_NAME, REPORT_NAME, build_bundle, verify_bundle
from kuchikomi_settings import get_settings
from tests.api.factories import make_clinic, make_review
from tests.evidence.warcs import MISSING_CHROMIUM, Page, archive_pages, sight

TEXT = "院長は不正請求をしているらしい。"


@pytest.fixture
def live_site() -> Iterator[tuple[str, list[str]]]:
    """A real server on 127.0.0.1 that records every request it gets (it should get none)."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            seen.append(self.path)
            body = b"<html><body>LIVE PAGE, NOT THE ARCHIVE</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def _chromium(monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    monkeypatch.setenv("KUCHIKOMI_EVIDENCE__CHROMIUM", path)
    get_settings.cache_clear()


def _archived(session: Session, data_dir: Path, url: str):
    listing = make_clinic(session).listings[0]
    review = make_review(session, listing, text=TEXT, author="通りすがり")
    base = url.rsplit("/", 1)[0]

    def html(label: str) -> bytes:
        return (
            f'<html><head><link rel="stylesheet" href="{base}/style.css">'
            f'<script src="{base}/app.js"></script></head><body>'
            f"<h1>口コミ一覧（{label}）</h1><p>{TEXT}</p>"
            f'<img src="{base}/photo.png"><iframe src="{base}/frame"></iframe>'
            + "<p>次の口コミ</p>" * 80
            + "</body></html>"
        ).encode()

    # The first and the latest capture of one URL, each page as it was that day.
    pages = [
        Page(url=url, body=html(label), fetched_at=datetime(2025, 3, day, 2, 0, tzinfo=UTC))
        for label, day in (("FIRST-CAPTURE", 5), ("LATEST-CAPTURE", 6))
    ]
    records = archive_pages(session, data_dir, pages, listing_id=listing.id)
    sight(session, review, *records)
    return review, records[0]


def _files(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


@pytest.mark.slow  # drives Chromium
def test_archived_page_is_rendered_offline_with_url_time_and_hash(
    session: Session,
    env: Path,
    monkeypatch: pytest.MonkeyPatch,
    live_site: tuple[str, list[str]],
) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("needs Debian's Chromium: apt-get install chromium")
    _chromium(monkeypatch, chromium)
    base, seen = live_site
    review, record = _archived(session, env, f"{base}/clinic/1")

    bundle = build_bundle(session=session, review_id=review.id)
    files = _files(bundle.content)
    manifest = json.loads(files[MANIFEST_NAME])

    # Nothing was fetched again: not the page, not its stylesheet, script, image or frame.
    assert seen == []
    assert manifest["rendering"]["status"] == "ok"
    assert {"capture-1.pdf", "capture-1.png", "capture-2.pdf", "capture-2.png"} <= set(
        manifest["files"]
    )
    latest = "".join(
        "".join(p.extract_text().split())
        for p in PdfReader(io.BytesIO(files["capture-2.pdf"])).pages
    )
    assert "LATEST-CAPTURE" in latest and "2025-03-0611:00JST" in latest

    pdf_text = "".join(
        p.extract_text() for p in PdfReader(io.BytesIO(files["capture-1.pdf"])).pages
    )
    flat = "".join(pdf_text.split())
    # The archived page, its Japanese readable. (Chromium's text layer gives some kanji as
    # look-alike radicals, 長 as ⻑, where the font draws both with one glyph.)
    assert "不正請求をしているらしい。" in flat
    assert "LIVEPAGE" not in flat
    assert f"{base}/clinic/1" in flat
    assert "2025-03-0511:00JST" in flat  # 02:00 UTC on 5 March
    assert "FIRST-CAPTURE" in flat and "LATEST-CAPTURE" not in flat
    assert record.payload_sha256 in flat

    with Image.open(io.BytesIO(files["capture-1.png"])) as png:
        assert png.format == "PNG"
        assert png.width == 1280
        # The whole page (80 more paragraphs), not one screen, plus the header line.
        assert png.height > 1500

    report = "".join(p.extract_text() for p in PdfReader(io.BytesIO(files[REPORT_NAME])).pages)
    assert "capture-1.pdf" in "".join(report.split())

    # verify covers the renderings like every other file.
    assert all(c.ok for c in verify_bundle(io.BytesIO(bundle.content)))
    files["capture-1.png"] = files["capture-1.png"][:-10] + b"0123456789"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    bad = [c for c in verify_bundle(io.BytesIO(buffer.getvalue())) if not c.ok]
    assert [(c.file, c.status.value) for c in bad] == [("capture-1.png", "MISMATCH")]


def test_without_chromium_the_bundle_says_so(
    session: Session, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _chromium(monkeypatch, MISSING_CHROMIUM)
    review, _ = _archived(session, env, "https://reviews.example.jp/clinic/1")
    bundle = build_bundle(session=session, review_id=review.id)
    files = _files(bundle.content)
    manifest = json.loads(files[MANIFEST_NAME])
    assert manifest["rendering"]["status"] == "unavailable"
    assert MISSING_CHROMIUM in manifest["rendering"]["reason"]
    assert not any(name.startswith("capture-") for name in files)
    report = "".join(p.extract_text() for p in PdfReader(io.BytesIO(files[REPORT_NAME])).pages)
    flat = "".join(report.split())
    assert "作成していません" in flat and MISSING_CHROMIUM in flat
    assert all(c.ok for c in verify_bundle(io.BytesIO(bundle.content)))
