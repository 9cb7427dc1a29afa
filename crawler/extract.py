"""Reading reviews out of a fetched page: schema.org JSON-LD and microdata (extruct), pagination,
text normalisation and stable review ids. Pure functions over HTML text; no I/O, no database.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import extruct
from parsel import Selector

from crawler.dates import parse_japanese_date
from crawler.items import ReviewItem
from crawler.sites import SiteProfile

logger = logging.getLogger(__name__)

MAX_EXTERNAL_ID = 255
_HORIZONTAL_SPACE = re.compile(r"[^\S\n]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")


@dataclass
class ExtractedPage:
    reviews: list[ReviewItem]
    # False when the page has no schema.org review markup at all: not a review listing, or the
    # site changed its layout. Either way a person must look (crawl health, STYLE §7).
    has_review_markup: bool
    next_url: str | None


def normalize_text(value: str | None) -> str:
    """NFKC, unified line breaks, runs of spaces collapsed, at most one blank line, trimmed."""
    if not value:
        return ""
    text = unicodedata.normalize("NFKC", value).replace("\r\n", "\n").replace("\r", "\n")
    lines = [_HORIZONTAL_SPACE.sub(" ", line).strip() for line in text.split("\n")]
    return _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip()


def _sha256(*parts: str) -> str:
    # The unit separator cannot occur in normalised text, so ("a", "bc") ≠ ("ab", "c").
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def extract_page(
    html: str, *, page_url: str, listing_url: str, site: SiteProfile, now: datetime
) -> ExtractedPage:
    """All reviews on one listing page, newest first as the site lists them, and the next page."""
    try:
        data = extruct.extract(
            html, base_url=page_url, syntaxes=list(site.syntaxes), uniform=True, errors="log"
        )
    except Exception as exc:  # noqa: BLE001 - extruct raises lxml/json errors of many kinds
        logger.warning("structured data unreadable on %s: %s", page_url, exc)
        data = {}
    nodes = [node for syntax in site.syntaxes for node in data.get(syntax) or []]
    raw_reviews = list(_find(nodes, site.review_types))
    has_markup = bool(raw_reviews) or any(True for _ in _find(nodes, site.rating_types))

    reviews: list[ReviewItem] = []
    seen_ids: set[str] = set()
    site_ids = _site_ids(raw_reviews, page_url=page_url, listing_url=listing_url)
    for raw, site_id in zip(raw_reviews, site_ids, strict=True):
        review = _review(raw, site_id=site_id, now=now)
        # The same review marked up twice (JSON-LD and microdata) is one review.
        if review is None or review.external_id in seen_ids:
            continue
        seen_ids.add(review.external_id)
        reviews.append(review)
    return ExtractedPage(
        reviews=reviews,
        has_review_markup=has_markup,
        next_url=next_page_url(html, page_url=page_url, listing_url=listing_url, site=site),
    )


def _types(node: dict[str, Any]) -> set[str]:
    value = node.get("@type")
    values = value if isinstance(value, list) else [value]
    # "https://schema.org/Review" and "schema:Review" name the same type as "Review".
    return {str(v).rsplit("/", 1)[-1].rsplit(":", 1)[-1] for v in values if v}


def _find(value: Any, types: frozenset[str]) -> Iterator[dict[str, Any]]:
    """Every node of one of ``types`` anywhere in the extracted graph (not inside one another)."""
    if isinstance(value, list):
        for item in value:
            yield from _find(item, types)
    elif isinstance(value, dict):
        if _types(value) & types:
            yield value
            return
        for item in value.values():
            yield from _find(item, types)


def _first_text(value: Any, *keys: str) -> str | None:
    """The first non-empty string under ``keys`` (names may be strings, objects or lists)."""
    for key in keys:
        found = _as_text(value.get(key))
        if found:
            return found
    return None


def _as_text(value: Any) -> str | None:
    if isinstance(value, list):
        texts = [t for t in (_as_text(v) for v in value) if t]
        return ", ".join(texts) if texts else None
    if isinstance(value, dict):
        return _first_text(value, "name", "alternateName", "@value")
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        text = normalize_text(str(value))
        return text or None
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = re.search(r"\d+(?:[.,]\d+)?", unicodedata.normalize("NFKC", value))
        if match:
            return float(match.group().replace(",", "."))
    return None


def _rating(raw: dict[str, Any]) -> float | None:
    rating = raw.get("reviewRating")
    if isinstance(rating, list):
        rating = rating[0] if rating else None
    if not isinstance(rating, dict):
        return _number(rating)
    value = _number(rating.get("ratingValue"))
    if value is None:
        return None
    best = _number(rating.get("bestRating")) or 5.0
    worst = _number(rating.get("worstRating"))
    worst = 1.0 if worst is None else worst
    if best <= worst or not worst <= value <= best:
        return None
    if best == 5.0 and worst == 1.0:
        return value
    # Other scales (0–10, 1–100…) mapped linearly onto 1–5 so ratings compare across sites.
    return round(1.0 + 4.0 * (value - worst) / (best - worst), 2)


def _raw_site_id(raw: dict[str, Any]) -> str | None:
    for key in ("@id", "id", "url", "identifier"):
        value = raw.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return None


def _site_ids(
    raw_reviews: list[dict[str, Any]], *, page_url: str, listing_url: str
) -> list[str | None]:
    """The site's own id of each review, or None where it is missing or cannot be trusted."""
    ids: list[str | None] = []
    for raw in raw_reviews:
        value = _raw_site_id(raw)
        if value is not None and urlsplit(value).scheme in ("http", "https"):
            parts = urlsplit(value)
            page = urlsplit(page_url)
            if (parts.netloc, parts.path, parts.query) == (page.netloc, page.path, page.query):
                # "…?page=3#r-42" moves as newer reviews push it down: only the fragment is stable.
                value = f"#{parts.fragment}" if parts.fragment else None
        if value in (page_url, listing_url):
            value = None
        ids.append(value)
    # An "id" shared by several reviews (e.g. every review carrying the page URL) is no id.
    counts: dict[str, int] = {}
    for value in ids:
        if value is not None:
            counts[value] = counts.get(value, 0) + 1
    return [value if value is not None and counts[value] == 1 else None for value in ids]


def _review(raw: dict[str, Any], *, site_id: str | None, now: datetime) -> ReviewItem | None:
    body = _first_text(raw, "reviewBody", "description", "text") or ""
    headline = _first_text(raw, "name", "headline")
    if headline and headline not in body:
        # A review's title is part of what the poster published (and may be the harmful part).
        body = f"{headline}\n{body}" if body else headline
    author = _first_text(raw, "author", "creator")
    rating = _rating(raw)
    if not body and rating is None:
        return None
    date_raw = _first_text(raw, "datePublished", "dateCreated", "dateModified")
    posted = parse_japanese_date(date_raw, now=now)
    url = None
    candidate = _raw_site_id({"url": raw.get("url")})
    if candidate and urlsplit(candidate).scheme in ("http", "https"):
        url = candidate
    if site_id is not None and len(site_id) <= MAX_EXTERNAL_ID:
        external_id = site_id
    elif site_id is not None:
        external_id = "sha256:" + _sha256(site_id)
    else:
        # A relative date ("3日前") reads differently tomorrow, so only an absolute date may be
        # part of the id; otherwise the same review would get a new id every day.
        date_part = (date_raw or "") if posted.exact else ""
        external_id = "sha256:" + _sha256(author or "", date_part, body)
    return ReviewItem(
        external_id=external_id,
        author=author[:255] if author else None,
        rating=rating,
        text=body,
        posted_at=posted.value,
        posted_at_raw=date_raw[:100] if date_raw else None,
        posted_at_exact=posted.exact,
        url=url if url and len(url) <= 2048 else None,
        content_hash=_sha256(author or "", "" if rating is None else f"{rating:g}", body),
    )


def next_page_url(html: str, *, page_url: str, listing_url: str, site: SiteProfile) -> str | None:
    """The next listing page on the same site, or None on the last page."""
    selector = Selector(text=html)
    # The listing's host, or the one it redirected to (http → https, a www. host).
    hosts = {urlsplit(listing_url).netloc, urlsplit(page_url).netloc}
    for xpath in site.next_page_xpaths:
        for href in selector.xpath(xpath).getall():
            href = href.strip()
            if not href:
                continue
            url = urljoin(page_url, href).split("#", 1)[0]
            parts = urlsplit(url)
            # Pagination never leaves the listing's site; a link elsewhere is not "the next page".
            if parts.scheme not in ("http", "https") or parts.netloc not in hosts:
                continue
            if url != page_url:
                return url
    return None
