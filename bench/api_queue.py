"""How fast the review queue pages stay as the database grows (keyset pagination).

Fills a fresh database with N reviews (60% classified, a third of those flagged, many equal
probabilities), then times through the real app: the first queue page, a page deep in the queue
(reached by its cursor), the HTML queue page, and the unfiltered listing. Prints the figures.

    .venv/bin/python bench/api_queue.py [N]            # SQLite in a temporary directory
    BENCH_DATABASE_URL=postgresql+psycopg://… .venv/bin/python bench/api_queue.py [N]
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def _time(label: str, call: Callable[[], Any], repeat: int = 20) -> None:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = call()
        # A refused or failed request would time the error page, not the queue.
        assert response.status_code == 200, (label, response.status_code)
        samples.append((time.perf_counter() - start) * 1000)
    print(f"  {label:<44} median {statistics.median(samples):7.1f} ms   max {max(samples):7.1f} ms")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    tmp = Path(tempfile.mkdtemp(prefix="kuchikomi-bench-"))
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
    # Settings are read from the environment (as the CLI's subprocesses do); set before import.
    os.environ["KUCHIKOMI_DATABASE_URL"] = url
    os.environ["KUCHIKOMI_DATA_DIR"] = str(tmp)

    from fastapi.testclient import TestClient
    from sqlalchemy import insert, text

    from api.app import create_app
    from kuchikomi.services.accounts import create_token, create_user, get_user_by_email
    from models import Classification, Clinic, Listing, Review
    from models.db import session_scope
    from models.migrate import upgrade

    upgrade(url)
    rng = random.Random(7)
    start = time.perf_counter()
    with session_scope() as session:
        for table in ("classification", "review", "listing", "clinic"):
            session.execute(text(f"DELETE FROM {table}"))
        session.execute(insert(Clinic), [{"id": i, "name": f"医院{i}"} for i in range(1, 101)])
        session.execute(
            insert(Listing),
            [
                {"id": i, "clinic_id": i, "url": f"https://bench.example.jp/c/{i}", "source": "x"}
                for i in range(1, 101)
            ],
        )
        base = datetime(2025, 1, 1, tzinfo=UTC)
        reviews, classifications = [], []
        for i in range(1, n + 1):
            reviews.append(
                {
                    "id": i,
                    "listing_id": rng.randint(1, 100),
                    "external_id": f"r{i}",
                    "text": "待ち時間が長かった。" * rng.randint(1, 8),
                    "content_hash": f"{i:064d}",
                    "posted_at": base + timedelta(minutes=i),
                    "first_seen_at": base + timedelta(minutes=i),
                    "last_seen_at": base + timedelta(minutes=i),
                    "posted_at_exact": True,
                }
            )
            if rng.random() < 0.6:
                # Two decimals: many ties, the hard case for keyset pages.
                p = round(rng.random(), 2)
                classifications.append(
                    {
                        "review_id": i,
                        "model_version": "bench",
                        "label": "harmful" if p >= 0.5 else "criticism",
                        "category": "insult" if p >= 0.5 else None,
                        "harmful_probability": p,
                        "flagged": p >= 0.67,
                        "reasons": ["bench"],
                        "classified_at": base,
                    }
                )
        session.execute(insert(Review), reviews)
        session.execute(insert(Classification), classifications)
        # Every route needs a login: the queue is read as a reviewer with a bearer token.
        reviewer = get_user_by_email(session=session, email="bench@example.jp") or create_user(
            session=session, email="bench@example.jp", role="reviewer", password="bench-password"
        )
        token = create_token(session=session, user=reviewer)
    flagged = sum(1 for c in classifications if c["flagged"])
    print(
        f"{url.split(':')[0]}: {n} reviews, {flagged} flagged "
        f"(filled in {time.perf_counter() - start:.1f} s)"
    )

    client = TestClient(create_app(), headers={"Authorization": f"Bearer {token}"})
    deep_cursor = None
    walked = 0
    cursor = None
    while walked < flagged // 2:
        response = client.get(
            "/api/v1/reviews",
            params={"flagged": "true", "limit": 200, **({"cursor": cursor} if cursor else {})},
        )
        response.raise_for_status()
        body = response.json()
        walked += len(body["items"])
        cursor = body["next_cursor"]
        deep_cursor = cursor
    _time(
        "GET /api/v1/reviews?flagged=true (page 1)",
        lambda: client.get("/api/v1/reviews", params={"flagged": "true"}),
    )
    _time(
        f"  … same, after {walked} reviews (cursor)",
        lambda: client.get("/api/v1/reviews", params={"flagged": "true", "cursor": deep_cursor}),
    )
    _time(
        "GET /api/v1/reviews?clinic_id=42&flagged=true",
        lambda: client.get("/api/v1/reviews", params={"flagged": "true", "clinic_id": 42}),
    )
    _time("GET /api/v1/reviews (every review, page 1)", lambda: client.get("/api/v1/reviews"))
    _time("GET / (HTML queue, 30 cards)", lambda: client.get("/"))

    from models.db import reset_engine

    reset_engine()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
