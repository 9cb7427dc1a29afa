"""Browser tests: Playwright (from PyPI) driving Debian's Chromium against the real app.

The app runs under uvicorn in a subprocess on 127.0.0.1 (a free port), on the test database of
the ``env`` fixture. One server serves every browser test of a database backend (starting one
takes seconds): it keeps no state of its own between requests, ``env`` empties the tables after
each test as everywhere else, and here also removes the data directory the server shares with
the tests, so each test starts from an empty database and an empty data directory.

Chromium is the distribution's (``apt-get install chromium``; ``.ci/run`` installs it), headless
and with ``--no-sandbox`` (CI runs as root); Playwright's own browser downloads are never used.
Without a ``chromium`` executable these tests are skipped, saying why.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, Playwright, sync_playwright

from kuchikomi.services.accounts import create_user
from models.db import session_scope
from tests.conftest import use_test_settings
from tests.live_app import running_app

PASSWORD = "correct horse battery staple"


def chromium_path() -> str | None:
    return os.environ.get("KUCHIKOMI_TEST_CHROMIUM") or shutil.which("chromium")


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if chromium_path() is None:
        pytest.skip("browser tests need Debian's Chromium: apt-get install chromium")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=chromium_path(), headless=True, args=["--no-sandbox"]
    )
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def server_data_dir(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data directory of the shared server (of this database backend)."""
    return tmp_path_factory.mktemp("server") / "var"


@pytest.fixture
def env(db_url: str, server_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The root ``env`` on the shared server's data directory, which is removed afterwards."""
    with use_test_settings(db_url, server_data_dir, monkeypatch) as data_dir:
        yield data_dir
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def live_server(db_url: str, server_data_dir: Path) -> Iterator[str]:
    """``kuchikomi``'s app under uvicorn on 127.0.0.1, one per database backend; its settings are
    those of ``env`` (same database, same data directory)."""
    with running_app(db_url, server_data_dir) as base:
        yield base


@dataclass
class Watch:
    """What a page did that a user would not see: dialogs, console errors, CSP violations."""

    dialogs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    @property
    def csp_violations(self) -> list[str]:
        return [m for m in self.console_errors if "Content Security Policy" in m]


@pytest.fixture
def page(browser: Browser, live_server: str, env: Path) -> Iterator[Page]:
    # ``env`` first: the page is closed before the tables are emptied and the data dir removed.
    context = browser.new_context(base_url=live_server, locale="ja-JP")
    page = context.new_page()
    page.set_default_timeout(10_000)
    watch = Watch()

    def on_dialog(dialog: Dialog) -> None:
        watch.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watch.console_errors.append(message.text)

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.on("pageerror", lambda error: watch.page_errors.append(str(error)))
    page.watch = watch  # type: ignore[attr-defined]
    yield page
    context.close()


def watch_of(page: Page) -> Watch:
    watch = page.watch  # type: ignore[attr-defined]
    assert isinstance(watch, Watch)
    return watch


LogIn = Callable[..., str]


@pytest.fixture
def log_in(page: Page) -> LogIn:
    """``log_in(role, clinic_ids=())``: a new user, logged in through the login form in the
    browser; returns the e-mail address."""

    def do(role: str = "reviewer", clinic_ids: tuple[int, ...] = ()) -> str:
        email = f"{role}-{uuid.uuid4().hex[:8]}@example.jp"
        with session_scope() as s:
            create_user(
                session=s, email=email, role=role, password=PASSWORD, clinic_ids=list(clinic_ids)
            )
        page.goto("/login")
        page.get_by_label("メールアドレス").fill(email)
        page.get_by_label("パスワード").fill(PASSWORD)
        page.get_by_role("button", name="ログイン").click()
        page.wait_for_url(re.compile(r"^(?!.*/login).*$"))
        return email

    return do
