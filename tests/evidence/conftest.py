"""Bundles in these tests are made without Chromium unless a test asks for it
(tests/evidence/test_rendering.py); the bundle without renderings is a path of its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kuchikomi_settings import get_settings
from tests.evidence.warcs import without_chromium


@pytest.fixture(autouse=True)
def _no_chromium(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    without_chromium(monkeypatch)
    yield
    get_settings.cache_clear()
