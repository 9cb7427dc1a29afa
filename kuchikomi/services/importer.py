"""Importing reviews exported elsewhere: our JSON Lines contract and Apify Google Maps exports.

``jsonl`` (docs/contracts.md) — one object per line::

    {"listing_url", "external_id", "author", "rating", "text", "posted_at", "first_seen_at"}

``listing_url``, ``external_id`` and ``text`` are required; ``rating`` is 1–5 or null; times are
ISO 8601 (``2025-03-04T10:30:00+09:00``; a date or a time without an offset is read as Japan time).
``posted_at`` may be null; ``first_seen_at`` defaults to ``posted_at``, else to the import time.

``apify`` — the JSON (an array) or JSON Lines dataset export of Apify's Google Maps review
scrapers: ``reviewId`` → external_id, ``name`` → author, ``stars`` → rating, ``text``,
``publishedAtDate`` → posted_at, ``reviewUrl`` → url; the listing is the item's ``url`` (the
place's Maps URL) unless ``listing_url`` is given for the whole file.

Every line (or array item) is checked first; a problem is reported with its line number and the
item skipped: an unknown listing, malformed JSON, a missing field, a bad rating, a date that is
not ISO 8601 or not within 1990–2100, a text longer than ``MAX_REVIEW_CHARS``, an identifier
(listing URL, review id, URL) holding NUL or a lone surrogate, or the same review twice in the
file. Text and author go through the shared normalisation (models.text.storable): NUL is
dropped, a lone surrogate becomes U+FFFD (docs/contracts.md#text-limits). The rest are
inserted in the caller's transaction. Reviews the database already holds (same listing and
external id) are left as they are, so importing the same file again changes nothing.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from crawler.items import review_content_hash
from kuchikomi.errors import Invalid
from kuchikomi.japanese import JST
from models import Listing, Review
from models.base import utcnow
from models.text import MAX_REVIEW_CHARS, has_unstorable, storable

MAX_EXTERNAL_ID = 255
MAX_AUTHOR = 255
MAX_URL = 2048
_IN_CHUNK = 400


class ImportFormat(StrEnum):
    jsonl = "jsonl"
    apify = "apify"


class ImportFileError(Invalid):
    """The file as a whole cannot be read (not UTF-8, not a JSON array, …)."""

    message_ja = "取り込むファイルを読み取れません。"


@dataclass
class LineProblem:
    line: int
    message: str


@dataclass
class ImportResult:
    read: int = 0
    imported: int = 0
    already_present: int = 0
    problems: list[LineProblem] = field(default_factory=list)
    new_review_ids: list[int] = field(default_factory=list)
    clinic_ids: list[int] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return len(self.problems)


@dataclass
class _Row:
    line: int
    listing_url: str
    external_id: str
    author: str | None
    rating: float | None
    text: str
    posted_at: datetime | None
    posted_at_raw: str | None
    first_seen_at: datetime | None
    url: str | None


class _Bad(ValueError):
    pass


def import_reviews(
    *,
    session: Session,
    data: bytes,
    format: ImportFormat = ImportFormat.jsonl,
    listing_url: str | None = None,
    now: datetime | None = None,
) -> ImportResult:
    """Parse ``data``, report bad items by line, insert the good new ones (caller commits)."""
    now = now or utcnow()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    result = ImportResult()
    rows: list[_Row] = []
    for line, item in _items(text, format):
        result.read += 1
        if isinstance(item, LineProblem):
            result.problems.append(item)
            continue
        try:
            row = (
                _jsonl_row(line, item)
                if format is ImportFormat.jsonl
                else _apify_row(line, item, listing_url)
            )
        except _Bad as exc:
            result.problems.append(LineProblem(line, str(exc)))
            continue
        rows.append(row)

    listings = _listings(session, {r.listing_url for r in rows})
    seen: set[tuple[int, str]] = set()
    good: list[tuple[_Row, Listing]] = []
    for row in rows:
        listing = listings.get(row.listing_url)
        if listing is None:
            result.problems.append(
                LineProblem(row.line, f"unknown listing {row.listing_url!r} (register it first)")
            )
            continue
        key = (listing.id, row.external_id)
        if key in seen:
            result.problems.append(
                LineProblem(row.line, f"review {row.external_id!r} appears twice in the file")
            )
            continue
        seen.add(key)
        good.append((row, listing))
    result.problems.sort(key=lambda p: p.line)

    existing = _existing(session, list(seen))
    new: list[Review] = []
    clinics: set[int] = set()
    for row, listing in good:
        if (listing.id, row.external_id) in existing:
            result.already_present += 1
            continue
        first_seen = row.first_seen_at or row.posted_at or now
        review = Review(
            listing_id=listing.id,
            external_id=row.external_id,
            author=row.author,
            rating=row.rating,
            posted_at=row.posted_at,
            posted_at_raw=row.posted_at_raw,
            posted_at_exact=row.posted_at is not None,
            first_seen_at=first_seen,
            last_seen_at=max(first_seen, now),
            text=row.text,
            url=row.url,
            content_hash=review_content_hash(author=row.author, rating=row.rating, text=row.text),
        )
        session.add(review)
        new.append(review)
        clinics.add(listing.clinic_id)
    session.flush()
    result.imported = len(new)
    result.new_review_ids = [r.id for r in new]
    result.clinic_ids = sorted(clinics)
    return result


def _items(text: str, format: ImportFormat) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object or LineProblem) per item."""
    stripped = text.lstrip()
    if format is ImportFormat.apify and stripped.startswith("["):
        yield from _array_items(text)
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, LineProblem(number, f"not valid JSON ({exc.msg})")


def _array_items(text: str) -> Iterator[tuple[int, Any]]:
    """Items of a JSON array, each with the line it starts on."""
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    n = len(text)

    def skip(p: int) -> int:
        while p < n and text[p] in " \t\r\n":
            p += 1
        return p

    pos = skip(pos)
    if pos < n and text[pos] == "]":
        return
    while True:
        line = text.count("\n", 0, pos) + 1
        try:
            item, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise ImportFileError(
                f"line {exc.lineno}: the JSON array is malformed ({exc.msg})"
            ) from None
        yield line, item
        pos = skip(pos)
        if pos < n and text[pos] == ",":
            pos = skip(pos + 1)
            continue
        if pos < n and text[pos] == "]":
            return
        raise ImportFileError(
            f"line {text.count(chr(10), 0, pos) + 1}: the JSON array is malformed"
        )


def _jsonl_row(line: int, item: Any) -> _Row:
    if not isinstance(item, dict):
        raise _Bad("not a JSON object")
    posted, posted_raw = _time(item, "posted_at")
    first_seen, _ = _time(item, "first_seen_at")
    return _Row(
        line=line,
        listing_url=_required_str(item, "listing_url", MAX_URL),
        external_id=_required_str(item, "external_id", MAX_EXTERNAL_ID),
        author=_optional_str(item, "author", MAX_AUTHOR),
        rating=_rating(item, "rating"),
        text=_text(item, "text"),
        posted_at=posted,
        posted_at_raw=posted_raw,
        first_seen_at=first_seen,
        url=_url(item, "url"),
    )


def _apify_row(line: int, item: Any, listing_url: str | None) -> _Row:
    if not isinstance(item, dict):
        raise _Bad("not a JSON object")
    listing = listing_url or _optional_str(item, "url", MAX_URL, identifier=True)
    if not listing:
        raise _Bad("no place URL (field 'url'); give the listing with --listing")
    posted, posted_raw = _time(item, "publishedAtDate")
    return _Row(
        line=line,
        listing_url=listing,
        external_id=_required_str(item, "reviewId", MAX_EXTERNAL_ID),
        author=_optional_str(item, "name", MAX_AUTHOR),
        rating=_rating(item, "stars"),
        text=_text(item, "text"),
        posted_at=posted,
        posted_at_raw=posted_raw,
        first_seen_at=None,
        url=_url(item, "reviewUrl"),
    )


def _identifier(key: str, value: str) -> str:
    # An identifier changed by normalisation would name something else: refuse it instead.
    if has_unstorable(value):
        raise _Bad(f"'{key}' contains NUL or a lone surrogate (\\ud800-\\udfff)")
    return value


def _required_str(item: dict[str, Any], key: str, limit: int) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _Bad(f"'{key}' is missing or not a non-empty string")
    value = _identifier(key, value.strip())
    if len(value) > limit:
        raise _Bad(f"'{key}' is longer than {limit} characters")
    return value


def _optional_str(
    item: dict[str, Any], key: str, limit: int, *, identifier: bool = False
) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Bad(f"'{key}' must be a string or null")
    value = _identifier(key, value) if identifier else storable(value)
    return value.strip()[:limit] or None


def _text(item: dict[str, Any], key: str) -> str:
    value = item.get(key)
    if value is None:
        return ""  # a star rating without text (Google allows it)
    if not isinstance(value, str):
        raise _Bad(f"'{key}' must be a string")
    if len(value) > MAX_REVIEW_CHARS:
        # Checked before normalising: a huge value costs nothing more than its length check.
        raise _Bad(
            f"'{key}' is {len(value):,} characters long; a review may have at most "
            f"{MAX_REVIEW_CHARS:,} (docs/contracts.md#text-limits)"
        )
    return unicodedata.normalize("NFKC", storable(value)).strip()


def _url(item: dict[str, Any], key: str) -> str | None:
    value = _optional_str(item, key, MAX_URL + 1, identifier=True)
    if value is None:
        return None
    if not value.startswith(("http://", "https://")) or len(value) > MAX_URL:
        raise _Bad(f"'{key}' is not an http(s) URL")
    return value


def _rating(item: dict[str, Any], key: str) -> float | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value <= 5:
        raise _Bad(f"'{key}' must be a number from 1 to 5 or null, not {value!r}")
    return float(value)


def _time(item: dict[str, Any], key: str) -> tuple[datetime | None, str | None]:
    value = item.get(key)
    if value is None or value == "":
        return None, None
    if not isinstance(value, str):
        raise _Bad(f"'{key}' must be an ISO 8601 string or null")
    try:
        parsed = parse_time(value)
    except TimeOutOfRange:
        raise _Bad(f"'{key}' is outside {MIN_YEAR}–{MAX_YEAR}: {storable(value[:40])!r}") from None
    except ValueError:
        raise _Bad(f"'{key}' is not an ISO 8601 date or time: {storable(value[:40])!r}") from None
    return parsed, _identifier(key, value[:100])


# Review dates outside these years are mistakes (or attacks): refused, never stored, since a date
# far in the future would break every date computed from it (deadlines).
MIN_YEAR, MAX_YEAR = 1990, 2100


class TimeOutOfRange(ValueError):
    pass


def parse_time(value: str) -> datetime:
    """ISO 8601 → aware UTC datetime; dates and offset-less times are Japan time.

    Raises ValueError for anything else, :class:`TimeOutOfRange` outside MIN_YEAR–MAX_YEAR.
    """
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            parsed = datetime(day.year, day.month, day.day, tzinfo=JST)
        else:
            parsed = datetime.fromisoformat(text)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=JST)
        # Checked in the time's own zone first: "0001-01-01" cannot even be moved to UTC.
        if not MIN_YEAR <= parsed.year <= MAX_YEAR:
            raise TimeOutOfRange(text)
        parsed = parsed.astimezone(UTC)
    except OverflowError:
        raise TimeOutOfRange(text) from None
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise TimeOutOfRange(text)
    return parsed


def _listings(session: Session, urls: set[str]) -> dict[str, Listing]:
    found: dict[str, Listing] = {}
    ordered = sorted(urls)
    for i in range(0, len(ordered), _IN_CHUNK):
        chunk = ordered[i : i + _IN_CHUNK]
        for listing in session.scalars(select(Listing).where(Listing.url.in_(chunk))):
            found[listing.url] = listing
    return found


def _existing(session: Session, keys: list[tuple[int, str]]) -> set[tuple[int, str]]:
    found: set[tuple[int, str]] = set()
    for i in range(0, len(keys), _IN_CHUNK):
        chunk = keys[i : i + _IN_CHUNK]
        query = select(Review.listing_id, Review.external_id).where(
            tuple_(Review.listing_id, Review.external_id).in_(chunk)
        )
        found.update((lid, eid) for lid, eid in session.execute(query))
    return found


@dataclass
class ImportRun:
    result: ImportResult
    classified: int
    bursts: int


def run_import(*, data: bytes, format: ImportFormat, listing_url: str | None = None) -> ImportRun:
    """Import, classify the new reviews and re-detect the clinics' bursts, in one transaction.

    The classifier model is loaded before anything is written, so a missing model
    (:class:`classifier.ModelNotFoundError`) leaves the database untouched.
    """
    from kuchikomi.services.bursts import detect_bursts
    from kuchikomi.services.classification import classify_reviews, load_active_model
    from models.db import session_scope

    model = load_active_model()
    with session_scope() as session:
        result = import_reviews(session=session, data=data, format=format, listing_url=listing_url)
        classified = 0
        bursts = 0
        if result.new_review_ids:
            classified = classify_reviews(
                session=session,
                review_ids=result.new_review_ids,
                only_unclassified=True,
                model=model,
                progress=False,
            )
            bursts = len(detect_bursts(session=session, clinic_ids=result.clinic_ids))
    return ImportRun(result=result, classified=classified, bursts=bursts)
