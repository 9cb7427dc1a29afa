"""`kuchikomi demo` shows Google reviews without credentials, through its local fake Google."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from classifier.training import TrainedModel


def test_the_demo_crawls_a_sample_clinics_google_listing(
    tmp_path: Path, trained_model: TrainedModel
) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("KUCHIKOMI_")}
    # The session's model, so that the demo does not train its own.
    env["KUCHIKOMI_CLASSIFIER__MODEL_PATH"] = str(trained_model.path)
    data_dir = tmp_path / "demo"
    command = [
        sys.executable,
        "-c",
        "from kuchikomi.cli import main; main()",
        "demo",
        "--no-serve",
        "--portal-port",
        "0",
        "--data-dir",
        str(data_dir),
    ]

    for run in (1, 2):
        result = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        assert result.returncode == 0, result.stderr
        new = 6 if run == 1 else 0  # a second run finds the same six reviews, none edited
        assert f"https://maps.google.com/maps?cid=5647382910: {new} new of 6 (ok)" in result.stderr

    with sqlite3.connect(data_dir / "kuchikomi.db") as db:
        rows = db.execute(
            "SELECT c.name, r.author, k.flagged FROM review r "
            "JOIN listing l ON l.id = r.listing_id JOIN clinic c ON c.id = l.clinic_id "
            "JOIN classification k ON k.review_id = r.id "
            "WHERE l.source = 'google_business_profile'"
        ).fetchall()
        revisions = db.execute("SELECT count(*) FROM review_revision").fetchone()[0]
    assert {name for name, _, _ in rows} == {"さくら内科クリニック"}
    assert "匿名" in {author for _, author, _ in rows}
    assert any(flagged for _, _, flagged in rows)
    assert revisions == 0
