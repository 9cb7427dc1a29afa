"""The page as a person saw it: the archived HTML replayed in headless Chromium, offline.

Evidence advice asks for a full-page capture with the URL and the date visible. Taking a new
screenshot of the live site would show today's page, not the one archived; so the page is
rendered from the WARC alone: every request the browser makes is answered from the bundle's WARC
records or refused, a dead proxy and a resolver that knows no host stand behind that, and page
scripts are off (the crawler read the server's HTML, not what scripts made of it). Nothing is
fetched again. Each capture gives a full-page PDF and PNG; both carry a header line with the URL,
the capture time in Japan time and the SHA-256 of the archived page body.

Without a Chromium the bundle is made without them and says why (manifest ``rendering``).
"""

from __future__ import annotations

import html
import io
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kuchikomi.services.evidence.base import jst_minute
from kuchikomi.services.evidence.warc import ArchivedPayload, Capture, archived_payloads, bare_id
from kuchikomi.services.japanese_pdf import font_path
from kuchikomi_settings import get_settings

# A desktop browser's width: the advice is a capture "taken on a PC".
VIEWPORT = {"width": 1280, "height": 900}
# Chromium caps a screenshot's height; a listing page longer than this is cut, and says so.
MAX_PNG_HEIGHT = 16_000
_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


@dataclass(frozen=True)
class Rendered:
    files: dict[str, bytes] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def unavailable(cls, reason: str) -> Rendered:
        return cls({}, {"status": "unavailable", "reason": reason, "files": []})


def chromium_executable() -> tuple[Path | None, str]:
    """The browser to render with, or None and why there is none."""
    configured = get_settings().evidence.chromium
    if configured is not None:
        if configured.is_file() and os.access(configured, os.X_OK):
            return configured, ""
        return None, f"Chromium がありません（設定された {configured} が見つかりません）"
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return Path(found), ""
    return None, "Chromium がインストールされていません（apt-get install chromium）"


def render_captures(captures: list[Capture], warc: bytes) -> Rendered:
    """Render each capture from the WARC alone. Runs in a thread of its own: Playwright's sync
    API refuses to start in a thread that already runs an event loop (an async caller, or a
    sync Playwright session of the caller's own), and the bundle must not depend on that."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="evidence-render") as pool:
        return pool.submit(_render_captures, captures, warc).result()


def _render_captures(captures: list[Capture], warc: bytes) -> Rendered:
    executable, reason = chromium_executable()
    if executable is None:
        return Rendered.unavailable(reason)
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        return Rendered.unavailable("Playwright（Python パッケージ）がありません")
    payloads = archived_payloads(warc)
    files: dict[str, bytes] = {}
    entries = []
    try:
        with tempfile.TemporaryDirectory(prefix="kuchikomi-render-") as tmp, sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=str(executable),
                headless=True,
                # Chromium refuses to run as root inside its sandbox (containers, CI).
                args=[
                    *(["--no-sandbox"] if os.geteuid() == 0 else []),
                    "--host-resolver-rules=MAP * ~NOTFOUND",
                ],
                proxy={"server": "http://127.0.0.1:9"},
                env={**os.environ, "FONTCONFIG_FILE": str(_fontconfig(Path(tmp)))},
                timeout=get_settings().evidence.render_timeout * 1000,
            )
            try:
                for n, capture in enumerate(captures, 1):
                    pdf, png, cut = _render_one(browser, capture, payloads)
                    names = {"pdf": f"capture-{n}.pdf", "png": f"capture-{n}.png"}
                    files[names["pdf"]], files[names["png"]] = pdf, png
                    entries.append(
                        {"warc_record_id": capture.warc_record_id, **names, "png_cut": cut}
                    )
                version = browser.version
            finally:
                browser.close()
    except PlaywrightError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Rendered.unavailable(f"Chromium で表示できませんでした（{first_line[:200]}）")
    return Rendered(files, {"status": "ok", "chromium": version, "files": entries})


def header_line(capture: Capture) -> str:
    return (
        f"{capture.url}  |  取得 {jst_minute(capture.fetched_at)}  |  "
        f"WARC ページ本体 SHA-256 {capture.payload_sha256}"
    )


def _render_one(
    browser: Any, capture: Capture, payloads: dict[str, ArchivedPayload]
) -> tuple[bytes, bytes, bool]:
    # Requests are answered by URL; the page itself from this capture's own record (the first
    # and the latest capture usually share one URL).
    by_url = {p.url: p for p in payloads.values()}
    own = payloads.get(bare_id(capture.warc_record_id))
    if own is not None:
        by_url[capture.url] = own
    context = browser.new_context(
        viewport=VIEWPORT,
        java_script_enabled=False,
        service_workers="block",
        locale="ja-JP",
        timezone_id="Asia/Tokyo",
    )
    context.set_default_timeout(get_settings().evidence.render_timeout * 1000)
    try:

        def answer(route: Any) -> None:
            archived = by_url.get(route.request.url)
            if archived is None:
                route.abort("blockedbyclient")
                return
            headers = {
                k: v
                for k, v in archived.headers
                # The body handed over is decoded and whole.
                if k.lower() not in ("content-encoding", "transfer-encoding", "content-length")
            }
            route.fulfill(status=archived.status, headers=headers, body=archived.body)

        context.route("**/*", answer)
        page = context.new_page()
        page.goto(capture.url, wait_until="load")
        header = html.escape(header_line(capture))
        pdf = page.pdf(
            format="A4",
            print_background=True,
            display_header_footer=True,
            header_template=(
                '<div style="font-size:7px;width:100%;padding:0 8mm;font-family:monospace;'
                f'word-break:break-all">{header}</div>'
            ),
            footer_template=(
                '<div style="font-size:7px;width:100%;text-align:right;padding:0 8mm">'
                '<span class="pageNumber"></span> / <span class="totalPages"></span></div>'
            ),
            margin={"top": "16mm", "bottom": "12mm", "left": "8mm", "right": "8mm"},
        )
        height = page.evaluate("document.documentElement.scrollHeight") or VIEWPORT["height"]
        cut = height > MAX_PNG_HEIGHT
        if cut:
            clip = {"x": 0, "y": 0, "width": VIEWPORT["width"], "height": MAX_PNG_HEIGHT}
            shot = page.screenshot(full_page=True, clip=clip)
        else:
            shot = page.screenshot(full_page=True)
        note = "  |  （長さの上限で下端を省略）" if cut else ""
        banner = _banner(context, header_line(capture) + note)
    finally:
        context.close()
    return pdf, _stack(banner, shot), cut


def _banner(context: Any, text: str) -> bytes:
    """The header line as an image as wide as the page, from a page of our own (not archived)."""
    page = context.new_page()
    page.set_content(
        '<html><body style="margin:0"><div id="h" style="background:#222;color:#fff;'
        "font:13px/1.5 monospace;padding:6px 10px;word-break:break-all;width:"
        f'{VIEWPORT["width"] - 20}px">{html.escape(text)}</div></body></html>'
    )
    shot: bytes = page.locator("#h").screenshot()
    page.close()
    return shot


def _stack(top: bytes, bottom: bytes) -> bytes:
    from PIL import Image

    with Image.open(io.BytesIO(top)) as head, Image.open(io.BytesIO(bottom)) as body:
        width = max(head.width, body.width)
        out = Image.new("RGB", (width, head.height + body.height), "white")
        out.paste(head, (0, 0))
        out.paste(body, (0, head.height))
        buffer = io.BytesIO()
        out.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _fontconfig(directory: Path) -> Path:
    """The system's fonts plus the Japanese font of our PDFs, so that a server without Japanese
    fonts still renders the page's Japanese (rather than empty boxes)."""
    conf = directory / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n'
        '  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>\n'
        f"  <dir>{html.escape(str(font_path().parent))}</dir>\n"
        f"  <cachedir>{html.escape(str(directory / 'cache'))}</cachedir>\n"
        "</fontconfig>\n",
        "utf-8",
    )
    return conf
