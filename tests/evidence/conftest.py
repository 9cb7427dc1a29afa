"""Bundles in these tests are made without Chromium unless a test asks for it
(tests/evidence/test_rendering.py): a browser for every bundle would cost seconds a test, and the
bundle without renderings is a path of its own that must work."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kuchikomi.settings import get_settings

MISSING_CHROMIUM = "/nonexistent/chromium"


@pytest.fixture(autouse=True)
def _no_chromium(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("KUCHIKOMI_EVIDENCE__CHROMIUM", MISSING_CHROMIUM)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
