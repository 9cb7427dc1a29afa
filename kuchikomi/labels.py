"""Japanese names of categories, burst kinds and crawl health: kept under this name for the
modules that import them from here; the one place they are defined is :mod:`kuchikomi.japanese`."""

from __future__ import annotations

from kuchikomi.japanese import BURST_KIND_JA, CATEGORY_JA, HEALTH_STATUS_JA

__all__ = ["BURST_KIND_JA", "CATEGORY_JA", "HEALTH_STATUS_JA"]
