"""The first module a Scrapyd job imports from our egg (its ``scrapy`` settings entry point).

Scrapyd puts the egg, a zip file, on ``sys.path``. The crawler reads files that ship beside its
modules (site profiles) through ordinary paths, which do not exist inside a zip, so this module
unpacks the egg once per version into the temporary directory, puts that copy first on
``sys.path`` and then loads the real settings module, :mod:`crawler.scrapyd_project`.

In the egg this file is ``kuchikomi_scrapyd.py`` at the top level (kuchikomi/services/scrapyd/
egg.py builds it); nothing in the project imports it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path


def _unpacked(egg: Path) -> Path:
    with zipfile.ZipFile(egg) as archive:
        version = json.loads(archive.read("kuchikomi_egg.json"))["version"]
        target = Path(tempfile.gettempdir()) / f"kuchikomi-guard-egg-{os.getuid()}-{version}"
        if not (target / "kuchikomi_egg.json").is_file():
            # Unpacked beside the target and renamed: a job never sees a half-written copy,
            # and of two jobs unpacking at once, one rename wins and the other copy is dropped.
            partial = Path(tempfile.mkdtemp(prefix=target.name + "-", dir=target.parent))
            archive.extractall(partial)
            try:
                partial.rename(target)
            except OSError:
                shutil.rmtree(partial, ignore_errors=True)
    return target


def _activate() -> None:
    egg = Path(__file__).resolve().parent
    if zipfile.is_zipfile(egg):
        sys.path.insert(0, str(_unpacked(egg)))


_activate()

from crawler.scrapyd_project import *  # noqa: E402,F403
