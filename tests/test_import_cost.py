"""Importing the web app stays cheap: every uvicorn worker (and every browser test's server) pays
for it, so heavy libraries needed by a few requests only are imported where they are used."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("scipy", "sklearn", "sudachipy", "scrapy")


@pytest.mark.slow  # a fresh interpreter imports the app
def test_importing_the_app_loads_no_heavy_library() -> None:
    code = f"import sys, api.app; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == []
