"""accounts tables (see models/__init__.py)."""

from __future__ import annotations
