"""The crawler packed as a Scrapyd egg, built from the installed packages themselves.

What Scrapyd needs of an egg: a zip with ``EGG-INFO/PKG-INFO`` and an ``EGG-INFO/entry_points.txt``
naming the project's Scrapy settings module (the ``scrapy`` group, key ``settings``). The egg
holds the packages a crawl imports (``crawler``, ``models``, ``kuchikomi_settings``) as
installed here, so a node runs exactly this machine's crawler; third-party libraries (Scrapy,
SQLAlchemy, …) must be installed on the node, which installing kuchikomi-guard there does.

The version names the content: the package version and a digest of every file packed, so a
changed installation is a new version and an unchanged one is never uploaded twice.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from importlib import import_module
from pathlib import Path

import kuchikomi

PROJECT = "kuchikomi-guard"
PACKAGES = ("crawler", "models", "kuchikomi_settings")
# The top-level module Scrapyd imports first (crawler/scrapyd_egg_entry.py, renamed in the egg).
ENTRY_MODULE = "kuchikomi_scrapyd"
_SKIPPED_DIRS = {"__pycache__"}
_SKIPPED_SUFFIXES = {".pyc", ".pyo"}
# Zip entries carry a date; a fixed one keeps the same files the same bytes.
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Egg:
    version: str
    data: bytes


def _files() -> list[tuple[str, Path]]:
    """(name in the egg, file on disk) for every file of the packed packages, sorted."""
    files: list[tuple[str, Path]] = []
    for package in PACKAGES:
        root = Path(import_module(package).__file__ or "").parent
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root)
            if not path.is_file() or path.suffix in _SKIPPED_SUFFIXES:
                continue
            if _SKIPPED_DIRS.intersection(relative.parts):
                continue
            files.append((f"{package}/{relative.as_posix()}", path))
    entry = Path(import_module("crawler").__file__ or "").parent / "scrapyd_egg_entry.py"
    files.append((f"{ENTRY_MODULE}.py", entry))
    return sorted(files)


def _version(files: list[tuple[str, Path]]) -> str:
    digest = hashlib.sha256()
    for name, path in files:
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    # Scrapyd stores versions as file names of [A-Za-z0-9_-] only; say it that way from the start.
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{kuchikomi.__version__}-{digest.hexdigest()[:16]}")


@lru_cache(maxsize=1)
def build_egg() -> Egg:
    """The egg of the installed crawler (built once per process)."""
    files = _files()
    version = _version(files)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:

        def add(name: str, data: bytes) -> None:
            archive.writestr(zipfile.ZipInfo(name, date_time=_ZIP_DATE), data)

        for name, path in files:
            add(name, path.read_bytes())
        add("kuchikomi_egg.json", json.dumps({"version": version}).encode())
        add(
            "EGG-INFO/PKG-INFO",
            f"Metadata-Version: 1.1\nName: {PROJECT}\nVersion: {version}\n".encode(),
        )
        add("EGG-INFO/entry_points.txt", f"[scrapy]\nsettings = {ENTRY_MODULE}\n".encode())
        add("EGG-INFO/top_level.txt", "\n".join((*PACKAGES, ENTRY_MODULE)).encode() + b"\n")
        add("EGG-INFO/not-zip-safe", b"\n")
    return Egg(version=version, data=buffer.getvalue())
