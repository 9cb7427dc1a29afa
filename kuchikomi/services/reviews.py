"""Reading reviews with their classification: the flagged queue and plain listings.

Shared by the CLI (``kuchikomi reviews list``), the JSON API and the staff web UI. Pages are
keyset-paginated so that a page costs the same at the end of a long queue as at its start, and so
that reviews arriving while staff page through do not shift what they have not seen yet:

- the flagged queue (``flagged=True``) is ordered by ``harmful_probability`` descending, then by
  review id descending (many reviews share a probability; the id makes the order total);
- every other listing is ordered by review id descending (newest stored first).

The cursor is an opaque URL-safe base64 token naming the ordering it belongs to and the last row
shown; callers pass it back unchanged.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Sequence
from datetime import date, datetime, time
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Select,
    Subquery,
    bindparam,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Session

from kuchikomi.errors import ClinicNotFound, Invalid, ReviewNotFound
from kuchikomi.japanese import JST
from kuchikomi.schemas import MAX_DB_ID, Page, ReviewPublic
from kuchikomi.services.visibility import visible_review
from models import Classification, Clinic, Decision, Listing, Review
from models.accounts import latest_decision_of
from models.tables import ReviewRevision

MAX_LIMIT = 200
DEFAULT_LIMIT = 50

# Cursor kinds: one per ordering, so a cursor from one listing cannot be replayed on another.
_QUEUE = "q"  # (harmful_probability desc, id desc)
_BY_ID = "i"  # (id desc)


class CursorError(Invalid):
    """The cursor was not produced by this listing (corrupt, truncated or from another filter)."""


def review_public(review: Review) -> ReviewPublic:
    """The public shape of a review; its listing, clinic and classification must be loadable."""
    c = review.classification
    listing = review.listing
    return ReviewPublic(
        id=review.id,
        clinic_id=listing.clinic_id,
        clinic_name=listing.clinic.name,
        listing_url=listing.url,
        external_id=review.external_id,
        author=review.author,
        rating=review.rating,
        posted_at=review.posted_at,
        posted_at_raw=review.posted_at_raw,
        posted_at_exact=review.posted_at_exact,
        first_seen_at=review.first_seen_at,
        removed_at=review.removed_at,
        text=review.text,
        url=review.url,
        label=c.label if c else None,
        category=c.category if c else None,
        harmful_probability=c.harmful_probability if c else None,
        flagged=bool(c and c.flagged),
        reasons=list(c.reasons or []) if c else [],
        model_version=c.model_version if c else None,
    )


def _encode_cursor(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode_cursor(token: str, kind: str) -> dict[str, Any]:
    """Decode and check a cursor; every defect is reported as one :class:`CursorError`."""
    if len(token) > 200:
        raise CursorError("invalid cursor: too long")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError):
        raise CursorError("invalid cursor: not a token returned as next_cursor") from None
    if not isinstance(payload, dict) or payload.get("k") not in (_QUEUE, _BY_ID):
        raise CursorError("invalid cursor: not a token returned as next_cursor")
    if payload["k"] != kind:
        raise CursorError("invalid cursor: it belongs to a listing with a different flagged filter")
    review_id = payload.get("id")
    # bool is an int subclass; a cursor never holds one.
    if (
        not isinstance(review_id, int)
        or isinstance(review_id, bool)
        or not 0 <= review_id <= MAX_DB_ID
    ):
        raise CursorError("invalid cursor: bad review id")
    if kind == _QUEUE:
        probability = payload.get("p")
        if (
            not isinstance(probability, int | float)
            or isinstance(probability, bool)
            or not math.isfinite(probability)
        ):
            raise CursorError("invalid cursor: bad probability")
    return payload


# What a page shows, read as plain columns: building ORM objects for each review, listing, clinic
# and classification cost more than the queries themselves at 50 reviews a page.
_PUBLIC_COLUMNS = (
    Review.id,
    Listing.clinic_id,
    Clinic.name.label("clinic_name"),
    Listing.url.label("listing_url"),
    Review.external_id,
    Review.author,
    Review.rating,
    Review.posted_at,
    Review.posted_at_raw,
    Review.posted_at_exact,
    Review.first_seen_at,
    Review.removed_at,
    Review.text,
    Review.url,
    Classification.label,
    Classification.category,
    Classification.harmful_probability,
    Classification.flagged,
    Classification.reasons,
    Classification.model_version,
)


def _public_rows(
    session: Session, statement: Select[Any], params: dict[str, Any]
) -> list[dict[str, Any]]:
    """:class:`ReviewPublic`'s fields from the rows of a statement of :func:`_with_decisions`.

    Run on the session's connection: Core rows, without the ORM's result layer (the statement
    loads no ORM objects; that layer was a fifth of the page's CPU time). Pending ORM changes are
    flushed first, as the session's own execute would."""
    session.flush()
    result = session.connection().execute(statement, params)
    keys = list(result.keys())
    rows = []
    for row in result:
        public = dict(zip(keys, row, strict=True))
        public["flagged"] = bool(public["flagged"])
        public["reasons"] = list(public["reasons"] or [])
        # SQLite answers EXISTS with 0 or 1.
        public["edited_after_decision"] = bool(public["edited_after_decision"])
        rows.append(public)
    return rows


def _base_query(*, flagged: bool | None) -> Select[Any]:
    query = (
        select(*_PUBLIC_COLUMNS)
        .select_from(Review)
        .join(Listing, Listing.id == Review.listing_id)
        .join(Clinic, Clinic.id == Listing.clinic_id)
    )
    if flagged:
        return query.join(Classification, Classification.review_id == Review.id).where(
            Classification.flagged.is_(True)
        )
    query = query.outerjoin(Classification, Classification.review_id == Review.id)
    if flagged is False:
        # Not flagged includes not yet classified: ReviewPublic.flagged is false for both.
        query = query.where(or_(Classification.id.is_(None), Classification.flagged.is_(False)))
    return query


# Staff and the portals count days in Japan time; storage is UTC.


def day_start(day: date | None) -> datetime | None:
    """The first instant of ``day`` in Japan time (for post-date filters)."""
    if day is None:
        return None
    return datetime.combine(day, time.min, tzinfo=JST)


def _with_decisions(page: Subquery, *order_by: ColumnElement[Any]) -> Select[Any]:
    """The rows of ``page`` (a subquery of :data:`_PUBLIC_COLUMNS`) with each review's latest
    staff decision and whether its text was rewritten on the site after that decision (which
    then judged an earlier wording).

    Read in the same query as the page, as correlated subqueries over the page's rows only (a
    subquery with a LIMIT is neither flattened nor pulled up by either database): three round
    trips per page were more work for the API than the queries themselves."""
    # Nested one level deeper (in the EXISTS), so told explicitly which FROM it refers to.
    decided_at = latest_decision_of(page.c.id, Decision.created_at).correlate(page)
    rewritten_since = (
        select(ReviewRevision.id)
        .where(ReviewRevision.review_id == page.c.id, ReviewRevision.replaced_at > decided_at)
        .exists()
    )
    return select(
        page,
        latest_decision_of(page.c.id).label("decision"),
        rewritten_since.label("edited_after_decision"),
    ).order_by(*order_by)


def _latest_decision_of_row() -> Any:
    """The latest decision of the review in the enclosing query (correlated subquery)."""
    return latest_decision_of(Review.id).correlate(Review)


class _PageShape(NamedTuple):
    """Which filters a page request uses; their values are bound parameters."""

    flagged: bool | None
    clinic: bool
    scoped: bool
    category: bool
    source: bool
    decision: str | None  # None, "undecided" or "latest" (the latest decision's value)
    since: bool
    before: bool
    after_cursor: bool


@cache
def _page_statement(shape: _PageShape) -> Select[Any]:
    """The page query for one combination of filters (at most a few hundred), built once.

    Building the statement and its cache key on every request cost as much as running it; a
    statement kept here is compiled by SQLAlchemy once and then only gets new parameter values.
    """
    query = _base_query(flagged=shape.flagged)
    if shape.clinic:
        query = query.where(Listing.clinic_id == bindparam("clinic_id"))
    if shape.scoped:
        query = query.where(Listing.clinic_id.in_(bindparam("clinic_ids", expanding=True)))
    if shape.category:
        query = query.where(Classification.category == bindparam("category"))
    if shape.source:
        query = query.where(Listing.source == bindparam("source"))
    if shape.decision == "undecided":
        query = query.where(~select(Decision.id).where(Decision.review_id == Review.id).exists())
    elif shape.decision is not None:
        query = query.where(_latest_decision_of_row() == bindparam("decision"))
    if shape.since:
        query = query.where(Review.posted_at >= bindparam("posted_since"))
    if shape.before:
        query = query.where(Review.posted_at < bindparam("posted_before"))

    if shape.flagged:
        if shape.after_cursor:
            last_probability = bindparam("last_probability", type_=Float)
            # (p, id) < (last_p, last_id) in descending order, written so that both databases
            # seek: the first condition alone is an index range that starts at the cursor; the
            # second only drops the rows that tie with the last one shown. The plain
            # "p < last_p OR (p = last_p AND id < last_id)" made the planners read the queue
            # from its top and filter away every earlier row. docs/operations.md#query-planner
            query = query.where(
                Classification.harmful_probability <= last_probability,
                or_(
                    Classification.harmful_probability < last_probability,
                    Classification.review_id < bindparam("last_id"),
                ),
            )
        # classification.review_id (= review.id) so that ix_classification_queue
        # (flagged, harmful_probability, review_id) serves both the filter and the order.
        query = query.order_by(
            Classification.harmful_probability.desc(), Classification.review_id.desc()
        )
    else:
        if shape.after_cursor:
            query = query.where(Review.id < bindparam("last_id"))
        query = query.order_by(Review.id.desc())
    # The limit is written into the SQL, not sent as a parameter: once psycopg has prepared the
    # statement (after five runs on a connection), PostgreSQL's generic plan takes an unknown
    # LIMIT for a tenth of the queue and chooses a parallel scan (26 ms instead of under 1 ms at
    # a million reviews), so it would plan each run afresh instead. With the limit in the text,
    # the generic plan is the index seek; the few limits in use each get a plan of their own.
    page = query.limit(bindparam("limit", type_=Integer, literal_execute=True)).subquery("page")
    if shape.flagged:
        return _with_decisions(page, page.c.harmful_probability.desc(), page.c.id.desc())
    return _with_decisions(page, page.c.id.desc())


def list_reviews(
    *,
    session: Session,
    flagged: bool | None,
    clinic_id: int | None,
    category: str | None,
    cursor: str | None,
    limit: int = DEFAULT_LIMIT,
    clinic_ids: Sequence[int] | None = None,
    source: str | None = None,
    decision: str | None = None,
    posted_since: datetime | None = None,
    posted_before: datetime | None = None,
) -> Page[ReviewPublic]:
    """One page of reviews; ``flagged=True`` is the staff queue (most probably harmful first).

    Raises :class:`CursorError` for a cursor this listing did not issue and
    :class:`~kuchikomi.errors.ClinicNotFound` when ``clinic_id`` names no clinic, or one outside
    ``clinic_ids`` (the clinics the caller may see; None = all; see api.auth).

    Further filters: ``source`` (the listing's site adapter), ``decision`` (``"undecided"`` or
    the latest decision's value) and the post date, ``posted_since <= posted_at <
    posted_before``. Filters narrow a listing without changing its order, so cursors stay valid.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    kind = _QUEUE if flagged else _BY_ID
    position = _decode_cursor(cursor, kind) if cursor else None
    if clinic_id is not None and clinic_ids is not None and clinic_id not in clinic_ids:
        # Another clinic's id answers exactly like an unknown one.
        raise ClinicNotFound(f"clinic {clinic_id} does not exist")

    shape = _PageShape(
        flagged=bool(flagged) if flagged is not None else None,
        clinic=clinic_id is not None,
        scoped=clinic_ids is not None,
        category=category is not None,
        source=source is not None,
        decision=decision if decision in (None, "undecided") else "latest",
        since=posted_since is not None,
        before=posted_before is not None,
        after_cursor=position is not None,
    )
    params: dict[str, Any] = {
        "clinic_id": clinic_id,
        "clinic_ids": list(clinic_ids) if clinic_ids is not None else None,
        "category": category,
        "source": source,
        "decision": decision,
        "posted_since": posted_since,
        "posted_before": posted_before,
        "limit": limit + 1,
    }
    if position is not None:
        params["last_id"] = position["id"]
        if kind == _QUEUE:
            params["last_probability"] = float(position["p"])
    rows = _public_rows(session, _page_statement(shape), params)
    if not rows and clinic_id is not None and session.get(Clinic, clinic_id) is None:
        # A page of the clinic's reviews shows that it exists; only an empty one needs a look.
        raise ClinicNotFound(f"clinic {clinic_id} does not exist")
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        if kind == _QUEUE:
            # repr-exact float: JSON round-trips Python floats exactly, so equality still holds.
            next_cursor = _encode_cursor(
                {"k": kind, "p": last["harmful_probability"], "id": last["id"]}
            )
        else:
            next_cursor = _encode_cursor({"k": kind, "id": last["id"]})
    items = [ReviewPublic(**row) for row in rows]
    return Page[ReviewPublic](items=items, next_cursor=next_cursor)


@cache
def _review_statement() -> Select[Any]:
    query = _base_query(flagged=None).where(Review.id == bindparam("review_id"))
    return _with_decisions(query.subquery("page"))


def visible_review_public(
    *, session: Session, review_id: int, clinic_ids: Sequence[int] | None = None
) -> ReviewPublic:
    """The review with its latest decision, as the list shows it, if the caller may see it
    (``clinic_ids`` None: every clinic); else :class:`~kuchikomi.errors.ReviewNotFound` —
    :func:`visible_review` decides, as for every lookup of one review."""
    visible_review(session=session, review_id=review_id, clinic_ids=clinic_ids)
    (row,) = _public_rows(session, _review_statement(), {"review_id": review_id})
    return ReviewPublic(**row)


def get_review(
    *, session: Session, review_id: int, clinic_ids: Sequence[int] | None = None
) -> ReviewPublic | None:
    """:func:`visible_review_public`, or None when the review does not exist or is outside
    ``clinic_ids``."""
    try:
        return visible_review_public(session=session, review_id=review_id, clinic_ids=clinic_ids)
    except ReviewNotFound:
        return None


def review_counts_by_clinic(
    *, session: Session, clinic_ids: Sequence[int] | None = None
) -> dict[int, tuple[int, int]]:
    """``{clinic_id: (reviews, flagged reviews)}`` for clinics that have any review."""
    flagged_count = func.count(Classification.id).filter(Classification.flagged.is_(True))
    query = (
        select(Listing.clinic_id, func.count(Review.id), flagged_count)
        .join(Review, Review.listing_id == Listing.id)
        .outerjoin(Classification, Classification.review_id == Review.id)
        .group_by(Listing.clinic_id)
    )
    if clinic_ids is not None:
        query = query.where(Listing.clinic_id.in_(clinic_ids))
    return {clinic_id: (total, flagged) for clinic_id, total, flagged in session.execute(query)}
