"""The staff API at nationwide scale: ~1M reviews, a real `kuchikomi serve`, concurrent clients.

Builds a database of 1,012,382 reviews over 2,000 clinics (3.7 % flagged; decisions, takedown
cases and bursts as a deployment that has run for a year would have them) with bulk inserts of
the models' tables, starts `kuchikomi serve` (uvicorn) against it, drives it with concurrent
httpx clients holding a bearer token (median of 3 runs) and prints the figures next to the ones
measured before the scale work (issue 15), marking each goal met or not.

    .venv/bin/python bench/api_scale.py --db sqlite
    .venv/bin/python bench/api_scale.py --db postgresql      # database bench_scale on 127.0.0.1
    .venv/bin/python bench/api_scale.py --db sqlite --reviews 50000   # a quick run

The database is kept (`var/bench/bench_scale.db` for SQLite, database ``bench_scale`` on PostgreSQL;
other sizes add theirs to the name) and reused by ``--reuse`` when it holds the same number of
reviews; the migrations, the summary recount and ANALYZE run either way, as after an upgrade.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
# Two people (or worktrees) benchmarking on one PostgreSQL server each take a name of their own.
PG_DATABASE = os.environ.get("KUCHIKOMI_BENCH_PG_DATABASE", "bench_scale")
FULL_REVIEWS = 1_012_382
CLINICS = 2_000
FLAGGED_SHARE = 0.037
RUNS = 3

# What the issue measured before (same machine, same data, one process, 10 clients).
BEFORE: dict[str, dict[str, str]] = {
    "sqlite": {
        "first": "p50 212 ms, p95 439 ms, 42 req/s",
        "deep": "p95 346 ms",
        "clinic": "p50 1.2 s, p95 1.5 s",
        "fifty": "p95 1.5 s",
        "html": "p50 2.6 s, 3.7 pages/s",
        "dashboard": "10.5 s",
        "bursts": "2.6 s",
        "csv": "35 of 50 answered 500",
        "rss": "184 → 775 MB",
        "workers": "—",
    },
    "postgresql": {
        "first": "p50 200 ms, p95 377 ms, 46 req/s",
        "deep": "p95 521 ms",
        "clinic": "p50 306 ms, p95 474 ms",
        "fifty": "p95 1.7 s",
        "html": "p50 3.1 s, 3.2 pages/s",
        "dashboard": "3.9 s",
        "bursts": "3.0 s",
        "csv": "35 of 50 answered 500",
        "rss": "184 → 775 MB",
        "workers": "—",
    },
}

TEXTS = (
    "待ち時間が長かったですが、先生の説明は丁寧でした。",
    "受付の対応が冷たく感じました。",
    "薬の説明がわかりやすかったです。",
    "予約してもかなり待たされました。",
    "院内が清潔で安心できました。",
    "医師の態度が高圧的で質問しにくい雰囲気でした。",
    "子どもにも優しく接してくれました。",
    "駐車場が狭くて停めにくいです。",
)
HARMFUL_TEXTS = (
    "院長は患者を食い物にしているヤブ医者。",
    "あの看護師は頭がおかしい。",
    "裏で不正請求しているという噂。絶対に行くな。",
)
CATEGORIES = ("defamation", "insult", "threat", "privacy", "discrimination")
SOURCES = ("schema_org", "qlife", "caloo", "epark")


# --- building the database --------------------------------------------------------------------


def _database_name(reviews: int) -> str:
    """One database per size, so that a quick run leaves the full one alone."""
    return PG_DATABASE if reviews == FULL_REVIEWS else f"{PG_DATABASE}_{reviews}"


def _database_url(kind: str, reviews: int) -> str:
    if kind == "sqlite":
        path = ROOT / "var" / "bench" / f"{_database_name(reviews)}.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    return f"{PG_SERVER}/{_database_name(reviews)}"


def _drop_database(kind: str, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    if kind == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
        return
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


def _review_count(url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM review")).scalar_one())
    except Exception:
        return -1
    finally:
        engine.dispose()


def _clinic_sizes(rng: random.Random, reviews: int) -> list[int]:
    """Reviews per clinic: a few popular clinics, a long tail; clinic 42 about average."""
    weights = [rng.lognormvariate(0, 0.9) for _ in range(CLINICS)]
    weights[41] = statistics.fmean(weights)
    total = sum(weights)
    sizes = [max(1, int(reviews * w / total)) for w in weights]
    sizes[0] += reviews - sum(sizes)
    return sizes


def _chunks(rows: Iterator[dict[str, Any]], size: int = 20_000) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def build(url: str, reviews: int, seed: int = 15) -> None:
    """Fill a migrated, empty database (core inserts of the ORM tables, in chunks)."""
    from sqlalchemy import insert

    from models import (
        Burst,
        BurstReview,
        Classification,
        Clinic,
        Decision,
        Listing,
        Review,
        TakedownCase,
    )
    from models.db import get_engine

    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    deployed = now - timedelta(days=400)
    history = timedelta(days=3 * 365)
    engine = get_engine()
    sizes = _clinic_sizes(rng, reviews)
    listings_of: dict[int, list[int]] = {}
    listing_rows = []
    for clinic_id in range(1, CLINICS + 1):
        for n in range(1 if clinic_id % 3 else 2):
            listing_id = len(listing_rows) + 1
            listings_of.setdefault(clinic_id, []).append(listing_id)
            listing_rows.append(
                {
                    "id": listing_id,
                    "clinic_id": clinic_id,
                    "url": f"https://portal{n}.example.jp/clinic/{clinic_id}",
                    "source": SOURCES[(clinic_id + n) % len(SOURCES)],
                    "created_at": deployed,
                    "last_crawl_at": now - timedelta(hours=6),
                    "last_crawl_status": "ok",
                    "health_status": "ok",
                    "consecutive_failures": 0,
                    "last_success_at": now - timedelta(hours=6),
                }
            )
    with engine.begin() as conn:
        conn.execute(
            insert(Clinic),
            [
                {"id": i, "name": f"医療法人 第{i}クリニック", "created_at": deployed}
                for i in range(1, CLINICS + 1)
            ],
        )
        conn.execute(insert(Listing), listing_rows)

    review_ids_of: dict[int, list[int]] = {c: [] for c in range(1, CLINICS + 1)}
    flagged_ids: list[int] = []

    def review_rows() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        review_id = 0
        for clinic_id, size in enumerate(sizes, start=1):
            for _ in range(size):
                review_id += 1
                review_ids_of[clinic_id].append(review_id)
                posted = now - history * rng.random() ** 1.3
                kind = rng.random()
                first_seen = max(posted + timedelta(hours=rng.uniform(2, 48)), deployed)
                if first_seen == deployed:  # the first crawl read the history over a week
                    first_seen += timedelta(hours=rng.uniform(0, 168))
                first_seen = min(first_seen, now)
                flagged = rng.random() < FLAGGED_SHARE
                text = rng.choice(HARMFUL_TEXTS if flagged else TEXTS) * rng.randint(1, 5)
                removed = rng.random() < (0.15 if flagged else 0.02)
                review = {
                    "id": review_id,
                    "listing_id": rng.choice(listings_of[clinic_id]),
                    "external_id": f"r{review_id}",
                    "author": f"投稿者{rng.randint(1, 400_000)}",
                    "rating": float(rng.randint(1, 5)),
                    # One in ten shows only a relative date ("3か月前"), one in 200 none at all.
                    "posted_at": None if kind < 0.005 else posted,
                    "posted_at_raw": None if kind < 0.005 else f"{posted:%Y年%m月%d日}",
                    "posted_at_exact": kind >= 0.1,
                    "first_seen_at": first_seen,
                    "last_seen_at": now - timedelta(hours=6),
                    "removed_at": first_seen + timedelta(days=3) if removed else None,
                    "text": text,
                    "url": f"https://portal0.example.jp/review/{review_id}",
                    "content_hash": f"{review_id:064x}",
                }
                if flagged:
                    flagged_ids.append(review_id)
                    probability = round(rng.uniform(0.6, 0.999), 3)
                    category: str | None = rng.choice(CATEGORIES)
                    label = "harmful"
                else:
                    probability = round(rng.random() ** 3 * 0.6, 3)
                    category = None
                    label = "criticism" if probability > 0.2 else "other"
                classification = {
                    "review_id": review_id,
                    "model_version": "bench-model-1",
                    "label": label,
                    "category": category,
                    "harmful_probability": probability,
                    "flagged": flagged,
                    "reasons": ["「ヤブ医者」"] if flagged else [],
                    "classified_at": first_seen,
                }
                yield review, classification

    pairs = review_rows()
    while True:
        chunk = [pair for _, pair in zip(range(20_000), pairs, strict=False)]
        if not chunk:
            break
        with engine.begin() as conn:
            conn.execute(insert(Review), [r for r, _ in chunk])
            conn.execute(insert(Classification), [c for _, c in chunk])

    # Staff decided on 40 % of the flagged reviews (a few twice); open cases for some.
    decisions, cases = [], []
    for review_id in rng.sample(flagged_ids, int(len(flagged_ids) * 0.4)):
        choice = rng.choices(("harmful", "criticism", "unsure"), (6, 3, 1))[0]
        for _ in range(1 if rng.random() < 0.9 else 2):
            decisions.append(
                {
                    "review_id": review_id,
                    "decision": choice,
                    "category": rng.choice(CATEGORIES) if choice == "harmful" else None,
                    "note": "",
                    "created_at": now - timedelta(days=rng.uniform(0, 300)),
                }
            )
        if choice == "harmful" and rng.random() < 0.3:
            cases.append(
                {"review_id": review_id, "status": rng.choice(("draft", "sent", "removed"))}
            )
    # Bursts: most clinics had a few; ~44,000 member rows in all.
    bursts, members = [], []
    for clinic_id in range(1, CLINICS + 1):
        for _ in range(rng.choice((0, 1, 1, 2, 2, 3))):
            ids = review_ids_of[clinic_id]
            size = min(len(ids), rng.randint(5, 30))
            start = now - timedelta(days=rng.uniform(1, 390))
            burst_id = len(bursts) + 1
            bursts.append(
                {
                    "id": burst_id,
                    "clinic_id": clinic_id,
                    "kind": rng.choice(("volume", "harmful", "rating_drop", "duplicate", "author")),
                    "window_start": start,
                    "window_end": start + timedelta(days=3),
                    "observed": float(size),
                    "expected": 1.5,
                    "score": round(rng.uniform(3, 12), 2),
                    "harmful_share": round(rng.random(), 2),
                    "alarm_at": start + timedelta(days=1),
                    "details": {"window_days": 3},
                    "detected_at": start + timedelta(days=1),
                    "updated_at": start + timedelta(days=1),
                }
            )
            members += [{"burst_id": burst_id, "review_id": r} for r in rng.sample(ids, size)]
    with engine.begin() as conn:
        for table, rows in (
            (Decision, decisions),
            (TakedownCase, cases),
            (Burst, bursts),
            (BurstReview, members),
        ):
            for chunk in _chunks(iter(rows)):
                conn.execute(insert(table), chunk)
    if engine.dialect.name == "postgresql":
        from sqlalchemy import text

        # Bulk-inserted ids were given explicitly: move the sequences past them.
        with engine.begin() as conn:
            for table in ("clinic", "listing", "review", "classification", "burst"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
    print(
        f"  {reviews:,} reviews, {len(flagged_ids):,} flagged, {len(decisions):,} decisions, "
        f"{len(bursts):,} bursts with {len(members):,} members",
        flush=True,
    )


def prepare(kind: str, reviews: int, reuse: bool) -> tuple[str, str]:
    """A migrated, filled database and a reviewer's bearer token."""
    url = _database_url(kind, reviews)
    os.environ["KUCHIKOMI_DATABASE_URL"] = url
    os.environ["KUCHIKOMI_DATA_DIR"] = str(ROOT / "var" / "bench" / "data")
    from models.migrate import upgrade

    start = time.perf_counter()
    if reuse and _review_count(url) == reviews:
        print(f"reusing the {kind} database with {reviews:,} reviews", flush=True)
        upgrade(url)
    else:
        print(f"building the {kind} database ({reviews:,} reviews)…", flush=True)
        _drop_database(kind, url)
        upgrade(url)
        build(url, reviews)
    _after_bulk_load(kind, url)
    print(f"  ready in {time.perf_counter() - start:.0f} s", flush=True)

    from kuchikomi.services.accounts import create_token, create_user, get_user_by_email
    from models.db import reset_engine, session_scope

    with session_scope() as session:
        reviewer = get_user_by_email(session=session, email="bench@example.jp") or create_user(
            session=session, email="bench@example.jp", role="reviewer", password="bench-password"
        )
        token = create_token(session=session, user=reviewer)
    reset_engine()
    return url, token


def _after_bulk_load(kind: str, url: str) -> None:
    """What an operator runs after a bulk import: the summary backfill, each burst's stored
    record (the bursts above were inserted without one) and planner statistics."""
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "kuchikomi"), "db", "refresh-stats"],
        check=True,
        env=os.environ,
    )
    if kind == "postgresql":
        import psycopg

        # VACUUM sets the visibility map that index-only scans need (autovacuum would, later).
        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")


# --- driving the server -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`kuchikomi serve` in a child process, waited for until it answers."""

    def __init__(self, workers: int) -> None:
        self.port = _free_port()
        command = [str(ROOT / ".venv" / "bin" / "kuchikomi"), "serve", "--port", str(self.port)]
        if workers > 1:
            command += ["--workers", str(workers)]
        self.process = subprocess.Popen(
            command, env=os.environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.base = f"http://127.0.0.1:{self.port}"
        import httpx

        for _ in range(300):
            try:
                if httpx.get(self.base + "/healthz", timeout=1).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("kuchikomi serve did not start")

    def _pids(self) -> list[int]:
        pids = [self.process.pid]
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        if children.exists():
            pids += [int(p) for p in children.read_text().split()]
        return pids

    def cpu_seconds(self) -> float:
        """CPU time used so far by the server process and its workers (not the database's)."""
        ticks = 0
        for pid in self._pids():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        """The largest peak resident set of the server process and its workers (VmHWM)."""
        peak = 0
        for pid in self._pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        return peak / 1024

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


@dataclass
class Load:
    p50: float
    p95: float
    rate: float
    statuses: dict[int, int]
    # API process CPU per request: what a request costs whatever else the machine is doing.
    cpu_ms: float = 0.0


async def _load(
    base: str, token: str, path: str, clients: int, requests: int, check: Callable[[Any], bool]
) -> Load:
    import httpx

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    remaining = iter(range(requests))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=120
    ) as client:

        async def worker() -> None:
            for _ in remaining:
                start = time.perf_counter()
                try:
                    response = await client.get(path)
                except httpx.TransportError:
                    # A connection the server dropped: counted, not retried (status -1).
                    latencies.append(time.perf_counter() - start)
                    statuses[-1] = statuses.get(-1, 0) + 1
                    continue
                latencies.append(time.perf_counter() - start)
                ok = response.status_code == 200 and check(response)
                status = response.status_code if ok or response.status_code != 200 else 0
                statuses[status] = statuses.get(status, 0) + 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - began
    latencies.sort()
    return Load(
        p50=statistics.median(latencies) * 1000,
        p95=latencies[max(0, int(len(latencies) * 0.95) - 1)] * 1000,
        rate=len(latencies) / wall,
        statuses=statuses,
    )


def load(
    server: Server,
    token: str,
    path: str,
    *,
    clients: int = 10,
    requests: int = 200,
    check: Callable[[Any], bool] = lambda r: True,
) -> Load:
    """Median of RUNS runs (each figure separately), after a short warm-up."""
    base = server.base
    asyncio.run(_load(base, token, path, clients, min(requests, 2 * clients), check))
    cpu = server.cpu_seconds()
    runs = [asyncio.run(_load(base, token, path, clients, requests, check)) for _ in range(RUNS)]
    cpu_ms = (server.cpu_seconds() - cpu) * 1000 / (requests * RUNS)
    statuses: dict[int, int] = {}
    for run in runs:
        for status, n in run.statuses.items():
            statuses[status] = statuses.get(status, 0) + n
    return Load(
        p50=statistics.median(r.p50 for r in runs),
        p95=statistics.median(r.p95 for r in runs),
        rate=statistics.median(r.rate for r in runs),
        statuses=statuses,
        cpu_ms=cpu_ms,
    )


def one_request_ms(server: Server, token: str, path: str) -> tuple[float, float]:
    """Median wall time of RUNS single requests, and the API's CPU time per request."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.base, headers=headers, timeout=120) as client:
        client.get(path).raise_for_status()  # warm-up
        samples = []
        cpu = server.cpu_seconds()
        for _ in range(RUNS):
            start = time.perf_counter()
            client.get(path).raise_for_status()
            samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), (server.cpu_seconds() - cpu) * 1000 / RUNS


def deep_cursor(base: str, token: str) -> tuple[str, int]:
    """The cursor half-way down the flagged queue, reached page by page."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    walked, cursor, total = 0, None, None
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        from sqlalchemy import func, select

        from models import Classification
        from models.db import session_scope

        with session_scope() as session:
            total = session.scalar(select(func.count()).where(Classification.flagged.is_(True)))
        while walked < (total or 0) // 2:
            params: dict[str, Any] = {"flagged": "true", "limit": 200}
            if cursor:
                params["cursor"] = cursor
            body = client.get("/api/v1/reviews", params=params).raise_for_status().json()
            walked += len(body["items"])
            cursor = body["next_cursor"]
    assert cursor
    return cursor, walked


def _cpu(result: Load) -> str:
    failed = {s: n for s, n in result.statuses.items() if s != 200}
    note = f" ({_statuses(failed)} of {sum(result.statuses.values())})" if failed else ""
    return f"; API CPU {result.cpu_ms:.1f} ms/req{note}"


def _ms(value: float) -> str:
    return f"{value / 1000:.1f} s" if value >= 1000 else f"{value:.0f} ms"


_STATUS_NAMES = {0: "200 cut short", -1: "connection dropped"}


def _statuses(statuses: dict[int, int], runs: int = 1) -> str:
    return ", ".join(
        f"{n // runs} × {_STATUS_NAMES.get(s, s)}" for s, n in sorted(statuses.items())
    )


def measure(kind: str, url: str, token: str, workers_run: bool) -> list[tuple[str, str, str, str]]:
    """(request, before, now, goal verdict) rows."""
    from sqlalchemy import func, select

    from models import Listing, Review
    from models.db import session_scope

    with session_scope() as session:
        clinic_reviews = session.scalar(
            select(func.count(Review.id))
            .join(Listing, Listing.id == Review.listing_id)
            .where(Listing.clinic_id == 42)
        )

    def complete_csv(response: Any) -> bool:
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
        return len(rows) == (clinic_reviews or 0) + 1

    before = BEFORE[kind]
    rows: list[tuple[str, str, str, str]] = []

    def verdict(ok: bool, goal: str) -> str:
        return f"{goal}: {'met' if ok else 'NOT met'}"

    server = Server(workers=1)
    try:
        base = server.base
        queue = "/api/v1/reviews?flagged=true"
        cursor, walked = deep_cursor(base, token)
        first = load(server, token, queue)
        rows.append(
            (
                "`GET /api/v1/reviews?flagged=true` first page",
                before["first"],
                f"p50 {_ms(first.p50)}, p95 {_ms(first.p95)}, {first.rate:.0f} req/s{_cpu(first)}",
                verdict(first.p95 <= 50, "p95 ≤ 50 ms"),
            )
        )
        deep = load(server, token, f"{queue}&cursor={cursor}")
        rows.append(
            (
                f"same, deep page by `next_cursor` (after {walked:,})",
                before["deep"],
                f"p50 {_ms(deep.p50)}, p95 {_ms(deep.p95)}{_cpu(deep)}",
                verdict(deep.p95 <= 50, "p95 ≤ 50 ms"),
            )
        )
        clinic = load(server, token, f"{queue}&clinic_id=42")
        rows.append(
            (
                "same, `&clinic_id=42`",
                before["clinic"],
                f"p50 {_ms(clinic.p50)}, p95 {_ms(clinic.p95)}{_cpu(clinic)}",
                verdict(clinic.p95 <= 50, "p95 ≤ 50 ms"),
            )
        )
        fifty = load(server, token, queue, clients=50, requests=500)
        rows.append(
            (
                "50 concurrent clients, first page",
                before["fifty"],
                f"p50 {_ms(fifty.p50)}, p95 {_ms(fifty.p95)}, {fifty.rate:.0f} req/s{_cpu(fifty)}",
                "—",
            )
        )
        html = load(server, token, "/", requests=100)
        rows.append(
            (
                "`/` (the HTML queue), 10 clients",
                before["html"],
                f"p50 {_ms(html.p50)}, p95 {_ms(html.p95)}, {html.rate:.0f} pages/s{_cpu(html)}",
                "—",
            )
        )
        dashboard, dashboard_cpu = one_request_ms(server, token, "/dashboard")
        rows.append(
            (
                "`/dashboard` (one request)",
                before["dashboard"],
                f"{_ms(dashboard)}; API CPU {dashboard_cpu:.0f} ms",
                verdict(dashboard <= 300, "≤ 300 ms"),
            )
        )
        bursts, bursts_cpu = one_request_ms(server, token, "/api/v1/bursts")
        rows.append(
            (
                "`GET /api/v1/bursts` (one request)",
                before["bursts"],
                f"{_ms(bursts)}; API CPU {bursts_cpu:.0f} ms",
                verdict(bursts <= 100, "≤ 100 ms"),
            )
        )
        bursts10 = load(server, token, "/api/v1/bursts", requests=30)
        rows.append(
            (
                "`GET /api/v1/bursts`, 10 clients",
                "—",
                f"p50 {_ms(bursts10.p50)}, p95 {_ms(bursts10.p95)}{_cpu(bursts10)}",
                "—",
            )
        )
        export = asyncio.run(
            _load(
                base,
                token,
                "/api/v1/reviews.csv?clinic_id=42",
                clients=50,
                requests=50,
                check=complete_csv,
            )
        )
        rows.append(
            (
                f"`reviews.csv?clinic_id=42` ({clinic_reviews} rows), 50 clients",
                before["csv"],
                _statuses(export.statuses) + (" complete" if 200 in export.statuses else ""),
                verdict(export.statuses == {200: 50}, "50 × 200 complete"),
            )
        )
        rss = server.peak_rss_mb()
        rows.append(
            (
                "worker peak RSS under all of the above",
                before["rss"],
                f"{rss:.0f} MB",
                verdict(rss <= 300, "≤ 300 MB"),
            )
        )
    finally:
        server.stop()

    if workers_run:
        server = Server(workers=2)
        try:
            wide = load(server, token, queue, clients=20, requests=1000)
            rows.append(
                (
                    "first page, `serve --workers 2`, 20 clients",
                    before["workers"],
                    f"p50 {_ms(wide.p50)}, p95 {_ms(wide.p95)}, {wide.rate:.0f} req/s{_cpu(wide)}",
                    verdict(wide.rate >= 300, "≥ 300 req/s")
                    if kind == "postgresql"
                    else "(goal on PostgreSQL)",
                )
            )
        finally:
            server.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--reviews", type=int, default=FULL_REVIEWS)
    parser.add_argument("--reuse", action="store_true", help="keep a database of the same size")
    parser.add_argument("--no-workers", action="store_true", help="skip the --workers 2 run")
    args = parser.parse_args()
    url, token = prepare(args.db, args.reviews, args.reuse)
    load_before = os.getloadavg()[0]
    rows = measure(args.db, url, token, workers_run=not args.no_workers)
    load_after = os.getloadavg()[0]
    name = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[args.db]
    print()
    print(
        f"{name}, {args.reviews:,} reviews over {CLINICS:,} clinics, median of {RUNS} runs; "
        f"{os.cpu_count()} cores, load average {load_before:.1f} before and {load_after:.1f} "
        "after the measurements"
    )
    print()
    print("| request | before | now | goal |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
