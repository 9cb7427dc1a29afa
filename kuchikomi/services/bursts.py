"""Burst detection over stored reviews: load timelines, run ``detector``, store burst records.

:func:`detect_bursts` is called after every crawl (``services.pipeline``) and import, and by
``kuchikomi bursts detect``. It re-runs the detectors over each clinic's whole history and
reconciles the result with the stored records of those clinics:

- a detected burst that overlaps a stored one of the same clinic and kind (same days, or a shared
  member review) updates that record in place — its id stays, so links staff shared keep working;
- a new one is inserted; a stored one that no longer holds (e.g. its reviews were re-classified
  as benign) is deleted.

So running detection again, or after a crawl that brought nothing new, changes nothing.

Timing rule (``detector.timing.burst_time``): a review counts at ``posted_at`` when the site
printed an exact date (``Review.posted_at_exact``), otherwise at ``first_seen_at``; reviews already
present at a listing's first crawl count at their estimated ``posted_at`` (or not at all), so a
newly registered listing is never a flood.

The cross-clinic detectors (near-duplicate texts, authors posting about many clinics) also look at
other clinics' reviews from the last ``CONTEXT_DAYS`` days when only some clinics are detected.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

import numpy as np
from pydantic import TypeAdapter
from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Table,
    bindparam,
    cast,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, selectinload

from detector import (
    AUTHOR,
    DUPLICATE,
    BurstCandidate,
    DetectorParams,
    ReviewArrays,
    author_key,
    burst_time,
    detect,
)
from kuchikomi.errors import ClinicNotFound
from kuchikomi.japanese import JST
from kuchikomi.schemas import BurstPublic
from models import Burst, BurstReview, Classification, Clinic, Listing, Review
from models.base import utcnow

CONTEXT_DAYS = 365
_IN_CHUNK = 500


def detect_bursts(
    *,
    session: Session,
    clinic_ids: Sequence[int] | None = None,
    params: DetectorParams | None = None,
    now: datetime | None = None,
) -> list[Burst]:
    """Detect bursts for the clinics (all when None), store them, return their stored records.

    Writes happen in the caller's transaction. Raises :class:`ClinicNotFound` for unknown ids.
    """
    now = now or utcnow()
    scope = _scope(session, clinic_ids)
    if not scope:
        return []
    params = params or DetectorParams()
    arrays = _load(session, None if clinic_ids is None else scope, now, params.duplicates.max_chars)
    candidates = detect(arrays, params, report_clinics=scope, until=now) if len(arrays) else []
    by_clinic: dict[int, list[BurstCandidate]] = {c: [] for c in scope}
    for candidate in candidates:
        by_clinic.setdefault(candidate.clinic_id, []).append(candidate)
    existing = _stored_bursts(session, sorted(by_clinic))
    stored: list[Burst] = []
    # One flush at the end: a flush before each clinic's records are read wrote the new bursts
    # a few dozen at a time.
    with session.no_autoflush:
        for clinic_id in sorted(by_clinic):
            stored += _reconcile(
                session, clinic_id, by_clinic[clinic_id], existing.get(clinic_id, []), now
            )
    session.flush()
    store_burst_records(session=session, clinic_ids=None if clinic_ids is None else scope)
    return sorted(stored, key=lambda b: (b.clinic_id, b.start, b.kind, b.id))


def list_bursts(
    *,
    session: Session,
    clinic_ids: Iterable[int] | None = None,
    kind: str | None = None,
) -> list[Burst]:
    """Stored bursts (of the given clinics), newest window first."""
    query = select(Burst)
    if clinic_ids is not None:
        ids = sorted(set(clinic_ids))
        if not ids:
            return []
        query = query.where(Burst.clinic_id.in_(ids))
    if kind is not None:
        query = query.where(Burst.kind == kind)
    query = query.order_by(Burst.start.desc(), Burst.id.desc())
    return list(session.scalars(query))


_BURST_RECORDS = TypeAdapter(list[BurstPublic])
_BURST_RECORD = TypeAdapter(BurstPublic)


def list_burst_records(
    *,
    session: Session,
    clinic_ids: Iterable[int] | None = None,
    kind: str | None = None,
    burst_ids: Iterable[int] | None = None,
) -> list[BurstPublic]:
    """What :func:`list_bursts` lists (or the bursts ``burst_ids``), as public records (see
    :func:`burst_record_chunks`)."""
    chunks = burst_record_chunks(
        session=session, clinic_ids=clinic_ids, kind=kind, burst_ids=burst_ids
    )
    return [record for chunk in chunks for record in chunk]


def burst_record_chunks(
    *,
    session: Session,
    clinic_ids: Iterable[int] | None = None,
    kind: str | None = None,
    burst_ids: Iterable[int] | None = None,
    not_stored: bool = False,
) -> Iterator[list[BurstPublic]]:
    """What :func:`list_bursts` lists, as public records a few hundred at a time, without
    loading ORM objects: the one place a burst's record is built, from its rows.

    One query: each burst with its member ids joined into one string by the database. A
    national listing has thousands of bursts and tens of thousands of members; loading each
    member as an object took seconds and hundreds of MB. ``burst_ids`` narrows it to those
    bursts; ``not_stored`` to those whose stored record is missing or of an older shape.
    """
    members_of = select(
        BurstReview.burst_id,
        func.aggregate_strings(cast(BurstReview.review_id, String), ",").label("ids"),
    ).group_by(BurstReview.burst_id)
    if burst_ids is not None:
        burst_ids = sorted(set(burst_ids))
        members_of = members_of.where(BurstReview.burst_id.in_(burst_ids))
    members = members_of.subquery()
    query = select(
        Burst.id.label("id"),
        Burst.clinic_id.label("clinic_id"),
        Burst.kind.label("kind"),
        Burst.start.label("start"),
        Burst.end.label("end"),
        Burst.observed.label("observed"),
        Burst.expected.label("expected"),
        Burst.score.label("score"),
        Burst.harmful_share.label("harmful_share"),
        Burst.alarm_at.label("alarm_at"),
        Burst.details.label("details"),
        members.c.ids,
    ).outerjoin(members, members.c.burst_id == Burst.id)
    narrowed = _narrowed(query, clinic_ids, kind, burst_ids)
    if narrowed is None:
        return
    if not_stored:
        narrowed = narrowed.where(_not_stored())
    rows = session.connection().execute(narrowed.order_by(Burst.start.desc(), Burst.id.desc()))
    yield from _in_chunks(rows.mappings())


def _narrowed(
    query: Select[Any],
    clinic_ids: Iterable[int] | None,
    kind: str | None,
    burst_ids: Iterable[int] | None,
) -> Select[Any] | None:
    """The query narrowed to the clinics, the kind and the bursts; None when nothing can match."""
    for column, wanted in ((Burst.clinic_id, clinic_ids), (Burst.id, burst_ids)):
        if wanted is not None:
            ids = sorted(set(wanted))
            if not ids:
                return None
            query = query.where(column.in_(ids))
    if kind is not None:
        query = query.where(Burst.kind == kind)
    return query


def _in_chunks(rows: Iterable[Any], size: int = _IN_CHUNK) -> Iterator[list[BurstPublic]]:
    """Records of ``size`` rows at a time, so that a caller serialising them chunk by chunk holds
    one chunk's objects at a time."""
    batch = []
    for row in rows:
        ids = row["ids"]
        batch.append({**row, "review_ids": sorted(map(int, ids.split(","))) if ids else []})
        if len(batch) == size:
            yield _BURST_RECORDS.validate_python(batch)
            batch = []
    if batch:
        yield _BURST_RECORDS.validate_python(batch)


@cache
def record_schema() -> str:
    """A name for the shape of :class:`BurstPublic`: a record stored in another shape is stale."""
    shape = json.dumps(BurstPublic.model_json_schema(mode="serialization"), sort_keys=True)
    return hashlib.sha256(shape.encode()).hexdigest()[:16]


def _not_stored() -> ColumnElement[bool]:
    return or_(
        Burst.record_json.is_(None),
        Burst.record_schema.is_(None),
        Burst.record_schema != record_schema(),
    )


def store_burst_records(*, session: Session, clinic_ids: Iterable[int] | None = None) -> int:
    """Store the staff record of each burst (of the clinics) that has none or an outdated one,
    built by :func:`burst_record_chunks`; returns how many were written.

    The listing then reads one column instead of every member row. The database drops a stored
    record when its burst's members or shown columns change (models/summaries.py), so detection
    calls this after every run, and ``kuchikomi db upgrade``/``refresh-stats`` after a migration
    or a bulk load. Writes happen in the caller's transaction.
    """
    # The table, not the mapped class: an executemany UPDATE of the two columns alone, which the
    # staleness triggers do not watch.
    table = Burst.__table__
    assert isinstance(table, Table)
    store = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(record_json=bindparam("b_json"), record_schema=record_schema())
    )
    # Read to the end before the first write: the rows being written are the ones being read.
    records = [
        {"b_id": r.id, "b_json": _BURST_RECORD.dump_json(r).decode()}
        for chunk in burst_record_chunks(session=session, clinic_ids=clinic_ids, not_stored=True)
        for r in chunk
    ]
    for i in range(0, len(records), _IN_CHUNK):
        session.connection().execute(store, records[i : i + _IN_CHUNK])
    return len(records)


def staff_burst_records_json(
    *, session: Session, clinic_ids: Iterable[int] | None = None, kind: str | None = None
) -> list[bytes]:
    """What :func:`list_bursts` lists, each record as JSON, as staff (who see every clinic) see
    it: the stored record where it is current, else built from the rows as
    :func:`store_burst_records` would store it (a read writes nothing)."""
    query = _narrowed(
        select(Burst.id, Burst.record_json, Burst.record_schema), clinic_ids, kind, None
    )
    if query is None:
        return []
    rows = session.execute(query.order_by(Burst.start.desc(), Burst.id.desc())).all()
    schema = record_schema()
    stale = [burst_id for burst_id, stored, shape in rows if stored is None or shape != schema]
    built = {
        r.id: _BURST_RECORD.dump_json(r)
        for chunk in (burst_record_chunks(session=session, burst_ids=stale) if stale else ())
        for r in chunk
    }
    records = []
    for burst_id, stored, shape in rows:
        if stored is not None and shape == schema:
            records.append(stored.encode())
        elif burst_id in built:  # else deleted by a detection run in between
            records.append(built[burst_id])
    return records


def check_clinics(session: Session, clinic_ids: Iterable[int]) -> list[int]:
    """The ids, sorted; raises :class:`ClinicNotFound` naming any that do not exist."""
    wanted = sorted({int(c) for c in clinic_ids})
    found = (
        set(session.scalars(select(Clinic.id).where(Clinic.id.in_(wanted)))) if wanted else set()
    )
    missing = [c for c in wanted if c not in found]
    if missing:
        raise ClinicNotFound(f"no clinic with id {', '.join(map(str, missing))}")
    return wanted


def _scope(session: Session, clinic_ids: Sequence[int] | None) -> list[int]:
    if clinic_ids is None:
        return list(session.scalars(select(Clinic.id).order_by(Clinic.id)))
    return check_clinics(session, clinic_ids)


def _listing_first_seen(session: Session, clinic_id: int | None = None) -> dict[int, datetime]:
    """When each listing was first crawled (its earliest review sighting); see the timing rule."""
    query = select(Review.listing_id, func.min(Review.first_seen_at)).group_by(Review.listing_id)
    if clinic_id is not None:
        query = query.join(Listing, Listing.id == Review.listing_id).where(
            Listing.clinic_id == clinic_id
        )
    return {int(row[0]): row[1] for row in session.execute(query)}


def _load(
    session: Session, clinic_ids: list[int] | None, now: datetime, text_chars: int
) -> ReviewArrays:
    """Review columns: the clinics' whole history plus recent cross-clinic context.

    Only the first ``text_chars`` characters of each text are read: all the detectors look at.
    """
    first_seen = _listing_first_seen(session)
    query = (
        select(
            Review.id,
            Listing.clinic_id,
            Review.listing_id,
            Review.posted_at,
            Review.posted_at_exact,
            Review.first_seen_at,
            Review.author,
            Review.rating,
            func.substr(Review.text, 1, text_chars).label("text"),
            Classification.flagged,
        )
        .join(Listing, Listing.id == Review.listing_id)
        .outerjoin(Classification, Classification.review_id == Review.id)
        .order_by(Review.id)
    )
    if clinic_ids is not None:
        since = now - timedelta(days=CONTEXT_DAYS)
        query = query.where(
            or_(
                Listing.clinic_id.in_(clinic_ids),
                Review.first_seen_at >= since,
                Review.posted_at >= since,
            )
        )
    ids: list[int] = []
    clinics: list[int] = []
    times: list[float] = []
    flagged: list[bool] = []
    ratings: list[float] = []
    authors: list[int] = []
    texts: list[str] = []
    codes: dict[str, int] = {}
    names: list[str] = []
    for row in session.execute(query):
        when = burst_time(
            posted_at=row.posted_at,
            posted_at_exact=row.posted_at_exact,
            first_seen_at=row.first_seen_at,
            listing_first_seen_at=first_seen[row.listing_id],
        )
        if when is None:
            continue
        key = author_key(row.author)
        code = -1
        if key is not None:
            code = codes.setdefault(key, len(names))
            if code == len(names):
                names.append(row.author.strip())
        ids.append(row.id)
        clinics.append(row.clinic_id)
        times.append(when.timestamp())
        flagged.append(bool(row.flagged))
        ratings.append(np.nan if row.rating is None else float(row.rating))
        authors.append(code)
        texts.append(row.text or "")
    return ReviewArrays(
        review_id=np.array(ids, dtype=np.int64),
        clinic_id=np.array(clinics, dtype=np.int64),
        time=np.array(times, dtype=np.float64),
        flagged=np.array(flagged, dtype=bool),
        rating=np.array(ratings, dtype=np.float64),
        author=np.array(authors, dtype=np.int64),
        texts=texts,
        author_names=names,
    )


def _overlaps(burst: Burst, candidate: BurstCandidate, members: set[int]) -> bool:
    if burst.kind != candidate.kind:
        return False
    if candidate.kind in (DUPLICATE, AUTHOR):
        return bool(members & set(burst.review_ids))
    return burst.start <= candidate.end and candidate.start <= burst.end


def _stored_bursts(session: Session, clinic_ids: list[int]) -> dict[int, list[Burst]]:
    """The stored bursts of the clinics with their members, by clinic, oldest first: read in
    a few queries rather than two per clinic and one per burst."""
    by_clinic: dict[int, list[Burst]] = {}
    for start in range(0, len(clinic_ids), _IN_CHUNK):
        chunk = clinic_ids[start : start + _IN_CHUNK]
        query = (
            select(Burst)
            .where(Burst.clinic_id.in_(chunk))
            .options(selectinload(Burst.members))
            .order_by(Burst.id)
        )
        for burst in session.scalars(query):
            by_clinic.setdefault(burst.clinic_id, []).append(burst)
    return by_clinic


def _reconcile(
    session: Session,
    clinic_id: int,
    candidates: list[BurstCandidate],
    existing: list[Burst],
    now: datetime,
) -> list[Burst]:
    unmatched = list(existing)
    kept: list[Burst] = []
    for candidate in sorted(candidates, key=lambda c: (c.start, c.kind)):
        members = set(candidate.review_ids)
        match = next((b for b in unmatched if _overlaps(b, candidate, members)), None)
        if match is None:
            match = Burst(clinic_id=clinic_id, kind=candidate.kind, detected_at=now)
            session.add(match)
        else:
            unmatched.remove(match)
        _update(match, candidate, members, now)
        kept.append(match)
    for stale in unmatched:
        session.delete(stale)
    return kept


def _update(burst: Burst, candidate: BurstCandidate, members: set[int], now: datetime) -> None:
    values = {
        "start": candidate.start,
        "end": candidate.end,
        "observed": float(candidate.observed),
        "expected": float(candidate.expected),
        "score": float(candidate.score),
        "harmful_share": float(candidate.harmful_share),
        # An earlier alarm stays the alarm: later data must not move "when we knew" forward.
        "alarm_at": min(burst.alarm_at, candidate.alarm_at)
        if burst.alarm_at
        else candidate.alarm_at,
        "details": _jsonable(candidate.details),
    }
    changed = burst.id is None or any(getattr(burst, k) != v for k, v in values.items())
    current = {m.review_id for m in burst.members}
    if current != members:
        changed = True
        burst.members = [m for m in burst.members if m.review_id in members] + [
            BurstReview(review_id=r) for r in sorted(members - current)
        ]
    if changed:
        for k, v in values.items():
            setattr(burst, k, v)
        burst.updated_at = now


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


@dataclass
class TimelineDay:
    day: date  # Japan-time calendar day
    reviews: int
    flagged: int


@dataclass
class ClinicTimeline:
    clinic_id: int
    days: list[TimelineDay]
    bursts: list[Burst]


def clinic_timeline(
    *, session: Session, clinic_id: int, days: int = 180, now: datetime | None = None
) -> ClinicTimeline:
    """Daily new and flagged reviews of one clinic over the last ``days`` Japan-time days, timed
    by the same rule as the detectors, with the stored bursts that overlap those days."""
    now = now or utcnow()
    last = now.astimezone(JST).date()
    first = last - timedelta(days=days - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=JST)
    first_seen = _listing_first_seen(session, clinic_id)
    rows = session.execute(
        select(
            Review.listing_id,
            Review.posted_at,
            Review.posted_at_exact,
            Review.first_seen_at,
            Classification.flagged,
        )
        .join(Listing, Listing.id == Review.listing_id)
        .outerjoin(Classification, Classification.review_id == Review.id)
        .where(
            Listing.clinic_id == clinic_id,
            or_(Review.first_seen_at >= since, Review.posted_at >= since),
        )
    )
    counts = {first + timedelta(days=i): [0, 0] for i in range(days)}
    for row in rows:
        when = burst_time(
            posted_at=row.posted_at,
            posted_at_exact=row.posted_at_exact,
            first_seen_at=row.first_seen_at,
            listing_first_seen_at=first_seen[row.listing_id],
        )
        if when is None:
            continue
        cell = counts.get(when.astimezone(JST).date())
        if cell is not None:
            cell[0] += 1
            cell[1] += bool(row.flagged)
    bursts = [
        b
        for b in list_bursts(session=session, clinic_ids=[clinic_id])
        if b.end >= since and b.start <= now
    ]
    return ClinicTimeline(
        clinic_id=clinic_id,
        days=[TimelineDay(day, r, f) for day, (r, f) in counts.items()],
        bursts=bursts,
    )
