"""Classifying stored reviews, and which model is in use (shared by the CLI, pipeline and API).

- :func:`load_active_model` — the configured (``settings.classifier.model_path``) or active
  model; raises :class:`classifier.ModelNotFoundError` with the command to run when there is none.
  Loaded models are cached per file, and the ``active`` pointer is read on every call, so every
  process picks up a newly activated model and two API workers never disagree for long.
- :func:`ensure_model` — the same, but trains and activates a model from the shipped corpus
  when none exists (``kuchikomi demo``, ``classify``, ``model eval`` and the crawl pipeline on a
  fresh machine); training takes well under a minute.
- :func:`classify_reviews` — classify reviews in batches and upsert one ``classification`` row
  per review, recording the model version; with ``workers`` > 1 the batches are classified by
  that many processes (each loading the model once), the database reads and writes staying in
  the calling process.
- :func:`default_workers` — how many processes re-classifying every stored review uses.
- :func:`staff_decision_examples` — labelled texts from staff decisions for ``model train``.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from classifier import Classifier, ModelNotFoundError, active_model_path, load_model
from classifier.corpus import HARMFUL_CATEGORIES, Example
from models import Classification, Decision, Review
from models.accounts import latest_decision_ids
from models.base import utcnow

BATCH_SIZE = 500

_cache_lock = threading.Lock()
_cache: dict[tuple[Path, float], Classifier] = {}


def load_active_model() -> Classifier:
    path = active_model_path()
    if path is None:
        # load_model() raises ModelNotFoundError with the command that makes one.
        return load_model()
    try:
        key = (path.resolve(), path.stat().st_mtime)
    except OSError:
        return load_model(path)
    with _cache_lock:
        model = _cache.get(key)
        if model is None:
            model = load_model(path)
            # One model in memory at a time: an old one is garbage once a new one is active.
            _cache.clear()
            _cache[key] = model
        return model


def ensure_model(*, announce: bool = False) -> Classifier:
    """The active model, trained from the shipped corpus first if there is none yet.

    No model file ships with the package: a .skops file is tied to the scikit-learn version
    that wrote it, while training is deterministic, needs no network and takes well under a
    minute. A configured ``model_path`` that does not exist is an error, not a reason to train.
    ``announce`` says on stderr that training is happening (CLI commands).
    """
    from kuchikomi_settings import get_settings

    try:
        return load_active_model()
    except ModelNotFoundError:
        if get_settings().classifier.model_path is not None:
            raise
        from classifier.training import train

        if announce:
            Console(stderr=True).print("モデルがないため、同梱のコーパスから学習します…")
        train()
        return load_active_model()


def classify_reviews(
    *,
    session: Session,
    review_ids: list[int] | None = None,
    only_unclassified: bool = True,
    model: Classifier | None = None,
    progress: bool = True,
    batch_size: int = BATCH_SIZE,
    workers: int = 1,
) -> int:
    """Classify reviews (all, or ``review_ids``; by default only those without a classification).

    Writes happen in the caller's transaction; returns how many reviews were classified. A
    progress bar goes to stderr when ``progress`` is true (the CLI and scheduler), never to stdout.
    ``workers`` > 1 classifies in that many processes when the model has a file to load there
    (results are the same as in one process; only the time differs).

    A review edited while it is being classified keeps no verdict on its earlier wording: a
    classification is only written if the review still has the text it was computed from (see
    :func:`_upsert`), otherwise the review stays unclassified for the next pass.
    """
    model = model or ensure_model()
    query = select(Review.id, Review.text, Review.content_hash)
    if only_unclassified:
        query = _unclassified(query)
    total = _count(session, query, review_ids)
    if total == 0:
        return 0
    done = 0
    batches = _batches(session, query, review_ids, batch_size)
    workers = min(workers, -(-total // batch_size))
    with _progress(progress, total) as advance:
        if workers > 1 and model.path is not None:
            classified = _in_processes(batches, model.path, workers)
        else:
            classified = ((rows, model.classify([t or "" for _, t, _ in rows])) for rows in batches)
        for rows, results in classified:
            _upsert(
                session,
                [(review_id, h, r) for (review_id, _, h), r in zip(rows, results, strict=True)],
            )
            done += len(rows)
            advance(len(rows))
    _expire_stale(session)
    return done


def unclassified_review_ids(session: Session, *, limit: int = BATCH_SIZE) -> list[int]:
    """The first ``limit`` reviews (by id) without a classification: those
    ``classify_reviews(only_unclassified=True)`` classifies."""
    query = _unclassified(select(Review.id)).order_by(Review.id).limit(limit)
    return [int(i) for i in session.scalars(query)]


def _unclassified(query: Select[Any]) -> Select[Any]:
    return query.outerjoin(Classification, Classification.review_id == Review.id).where(
        Classification.id.is_(None)
    )


def default_workers() -> int:
    """``settings.classifier.workers``, or one process per core this process may run on."""
    from kuchikomi_settings import get_settings

    configured = get_settings().classifier.workers
    if configured is not None:
        return configured
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


# The model of a worker process, loaded once by the pool's initializer.
_worker_model: Classifier | None = None


def _load_worker_model(path: str) -> None:
    global _worker_model
    # One BLAS thread per process: the processes are the parallelism.
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    _worker_model = load_model(Path(path))


def _classify_in_worker(texts: list[str]) -> list[Any]:
    assert _worker_model is not None
    return _worker_model.classify(texts)


def _in_processes(
    batches: Iterator[list[_Row]], path: Path, workers: int
) -> Iterator[tuple[list[_Row], list[Any]]]:
    """(rows, results) per batch, in order, classified by ``workers`` processes.

    Each process loads the model once (Sudachi objects cannot be pickled, so the model is not
    sent to them: each opens its own tokenizer). At most two batches per process are in flight,
    so memory stays bounded however many reviews there are, and results come back in order so
    the caller's writes are those of the single-process path. "spawn": a forked child would
    inherit the parent's database connections and threads.
    """
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    pending: deque[tuple[list[_Row], Future[list[Any]]]] = deque()
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_load_worker_model,
        initargs=(str(path),),
    ) as pool:
        for rows in batches:
            texts = [t or "" for _, t, _ in rows]
            pending.append((rows, pool.submit(_classify_in_worker, texts)))
            if len(pending) >= 2 * workers:
                done_rows, future = pending.popleft()
                yield done_rows, future.result()
        while pending:
            done_rows, future = pending.popleft()
            yield done_rows, future.result()


def _count(session: Session, query: Select[Any], review_ids: list[int] | None) -> int:
    if review_ids is None:
        return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    total = 0
    ids = sorted(set(review_ids))
    for start in range(0, len(ids), BATCH_SIZE):
        chunk = query.where(Review.id.in_(ids[start : start + BATCH_SIZE]))
        total += int(session.scalar(select(func.count()).select_from(chunk.subquery())) or 0)
    return total


# A review to classify: its id, text and content hash (the text's identity, see _upsert).
_Row = tuple[int, str, str]


def _batches(
    session: Session, query: Select[Any], review_ids: list[int] | None, size: int
) -> Iterator[list[_Row]]:
    if review_ids is not None:
        ids = sorted(set(review_ids))
        for start in range(0, len(ids), size):
            chunk = query.where(Review.id.in_(ids[start : start + size])).order_by(Review.id)
            rows = [(int(i), t, h) for i, t, h in session.execute(chunk).all()]
            if rows:
                yield rows
        return
    # Keyset pagination by id: rows classified in one batch cannot shift the next batch.
    last_id = 0
    while True:
        page = query.where(Review.id > last_id).order_by(Review.id).limit(size)
        rows = [(int(i), t, h) for i, t, h in session.execute(page).all()]
        if not rows:
            return
        yield rows
        last_id = rows[-1][0]


_COLUMNS = (
    "model_version",
    "label",
    "category",
    "harmful_probability",
    "flagged",
    "reasons",
    "classified_at",
)


def _upsert(session: Session, rows: Sequence[tuple[int, str, Any]]) -> None:
    """Write (review id, content hash, result) rows, one classification per review.

    Each row is written only if its review still has that content hash: the crawler may edit a
    review (new text, classification dropped, crawler/store.py) between the read of its text and
    this write. On PostgreSQL the review row is share-locked by the same statement, so the
    crawler's edit either waits for this transaction (and its removal of the classification
    then sees this row) or is seen by it; SQLite runs one writer at a time.
    """
    now = utcnow()
    values = [
        {
            "p_review_id": review_id,
            "p_content_hash": content_hash,
            "p_model_version": r.model_version,
            "p_label": r.label,
            "p_category": r.category,
            "p_harmful_probability": r.harmful_probability,
            "p_flagged": r.flagged,
            "p_reasons": r.reasons,
            "p_classified_at": now,
        }
        for review_id, content_hash, r in rows
    ]
    if not values:
        return
    # One statement executed for many parameter sets: compiled once, unlike a VALUES list.
    session.execute(_guarded_upsert(session.get_bind().dialect.name), values)


def _guarded_upsert(dialect: str) -> Any:
    table = Classification.__table__
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        insert: Any = pg_insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        insert = sqlite_insert
    else:  # pragma: no cover - the project supports SQLite and PostgreSQL only
        raise RuntimeError(f"unsupported database dialect {dialect!r}")
    source = select(
        Review.id, *(bindparam(f"p_{name}", type_=table.c[name].type) for name in _COLUMNS)
    ).where(
        Review.id == bindparam("p_review_id", type_=Review.id.type),
        Review.content_hash == bindparam("p_content_hash", type_=Review.content_hash.type),
    )
    if dialect == "postgresql":
        source = source.with_for_update(read=True)
    statement = insert(table).from_select(["review_id", *_COLUMNS], source)
    return statement.on_conflict_do_update(
        index_elements=["review_id"], set_={name: statement.excluded[name] for name in _COLUMNS}
    )


def _expire_stale(session: Session) -> None:
    """Rows were written behind the ORM's back; make loaded objects re-read them."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Classification):
            session.expire(obj)
        elif isinstance(obj, Review):
            session.expire(obj, ["classification"])


class _progress:
    def __init__(self, enabled: bool, total: int):
        self.enabled = enabled
        self.total = total
        self.bar: Progress | None = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return lambda n: None
        self.bar = Progress(
            TextColumn("分類中"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self.bar.start()
        task = self.bar.add_task("classify", total=self.total)
        bar = self.bar
        return lambda n: bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def staff_decision_examples(session: Session) -> list[Example]:
    """Labelled texts from staff decisions: the latest decision per review, ``unsure`` skipped.

    ``criticism`` teaches criticism; ``harmful`` teaches its confirmed category. A review whose
    latest decision is ``unsure`` (or harmful without a learnable category) gives no example,
    even if an earlier decision was firm: the person's current view is what counts.
    """
    newest = latest_decision_ids()
    rows = session.execute(
        select(Decision.review_id, Decision.decision, Decision.category, Review.text)
        .join(Review, Review.id == Decision.review_id)
        .where(Decision.id.in_(newest))
        .order_by(Decision.review_id)
    )
    latest: dict[int, Example] = {}
    for review_id, decision, chosen, text in rows:
        if decision == "criticism":
            latest[review_id] = Example("criticism", text, f"decision:{review_id}")
        elif decision == "harmful" and chosen in HARMFUL_CATEGORIES:
            latest[review_id] = Example(chosen, text, f"decision:{review_id}")
    return [e for e in latest.values() if e.text and e.text.strip()]
