"""Reading reviews out of a fetched page as its site profile says: schema.org JSON-LD and
microdata (extruct), or the profile's selectors (html profiles, reviews inline or on their own
pages); pagination, text normalisation and stable review ids. Pure functions over HTML text; no
I/O, no database.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import extruct
from lxml import etree
from parsel import Selector, SelectorList

from crawler.dates import JST, ParsedDate, parse_japanese_date
from crawler.items import ReviewItem, hash_parts, review_content_hash
from crawler.sites import FieldRule, SiteProfile
from models.text import storable

logger = logging.getLogger(__name__)

MAX_EXTERNAL_ID = 255
_HORIZONTAL_SPACE = re.compile(r"[^\S\n]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")


@dataclass
class ExtractedPage:
    reviews: list[ReviewItem]
    # False when the page has no review markup at all (no schema.org review data, no review
    # block): not a review listing, or the site changed its layout. A person must look.
    has_review_markup: bool
    next_url: str | None
    # Reviews on their own pages (html profiles with detail_link): (review id, page URL).
    detail_links: list[tuple[str, str]] = field(default_factory=list)
    # Review blocks found, and how many of them were skipped (a required field missing, or
    # markup that could not be read). Most blocks skipped means the layout changed.
    blocks: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)


def normalize_text(value: str | None) -> str:
    """NFKC, unified line breaks, runs of spaces collapsed, at most one blank line, trimmed;
    without what the database cannot hold (models.text.storable)."""
    if not value:
        return ""
    text = unicodedata.normalize("NFKC", storable(value))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [_HORIZONTAL_SPACE.sub(" ", line).strip() for line in text.split("\n")]
    return _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip()


def extract_page(
    html: str, *, page_url: str, listing_url: str, site: SiteProfile, now: datetime
) -> ExtractedPage:
    """All reviews on one listing page, newest first as the site lists them, and the next page.

    For a profile whose reviews sit on their own pages, the page's reviews are links
    (``detail_links``); :func:`extract_detail_page` reads each of them.
    """
    if site.extract == "html":
        return _extract_html_list(
            html, page_url=page_url, listing_url=listing_url, site=site, now=now
        )
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
        blocks=len(raw_reviews),
        skipped=len(raw_reviews) - len(reviews),
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
    candidate = _raw_site_id({"url": raw.get("url")})
    return build_review(
        site_id=site_id,
        author=author,
        rating=rating,
        body=body,
        date_raw=date_raw,
        url=candidate,
        now=now,
    )


def build_review(
    *,
    site_id: str | None,
    author: str | None,
    rating: float | None,
    body: str,
    date_raw: str | None,
    url: str | None,
    now: datetime,
    date_format: str | None = None,
) -> ReviewItem:
    """One stored review from the values a page shows (already normalised)."""
    if site_id is not None:
        site_id = storable(site_id)
    if url is not None:
        url = storable(url)
    posted = parse_japanese_date(date_raw, now=now)
    if date_format and date_raw:
        try:
            value = datetime.strptime(date_raw, date_format)
        except ValueError:
            pass
        else:
            # A format without a zone reads the site's local time: Japan.
            zoned = value if value.tzinfo else value.replace(tzinfo=JST)
            posted = ParsedDate(zoned.astimezone(UTC), True)
    if url is not None and urlsplit(url).scheme not in ("http", "https"):
        url = None
    if site_id is not None and len(site_id) <= MAX_EXTERNAL_ID:
        external_id = site_id
    elif site_id is not None:
        external_id = "sha256:" + hash_parts(site_id)
    else:
        # A relative date ("3日前") reads differently tomorrow, so only an absolute date may be
        # part of the id; otherwise the same review would get a new id every day.
        date_part = (date_raw or "") if posted.exact else ""
        external_id = "sha256:" + hash_parts(author or "", date_part, body)
    return ReviewItem(
        external_id=external_id,
        author=author[:255] if author else None,
        rating=rating,
        text=body,
        posted_at=posted.value,
        posted_at_raw=date_raw[:100] if date_raw else None,
        posted_at_exact=posted.exact,
        url=url if url and len(url) <= 2048 else None,
        content_hash=review_content_hash(author=author, rating=rating, text=body),
    )


def next_page_url(html: str, *, page_url: str, listing_url: str, site: SiteProfile) -> str | None:
    """The next listing page on the same site, or None on the last page."""
    if site.page_number is not None:
        return _numbered_next(page_url, site)
    selector = Selector(text=html)
    return _next_from_links(selector, page_url=page_url, listing_url=listing_url, site=site)


def _numbered_next(page_url: str, site: SiteProfile) -> str | None:
    """The page number in the URL plus one; the list ends where the site answers 404."""
    assert site.page_number is not None
    found = site.page_number.search(page_url)
    if found is None:
        return None
    start, end = found.span("page")
    return page_url[:start] + str(int(found.group("page")) + 1) + page_url[end:]


def _next_from_links(
    selector: Selector, *, page_url: str, listing_url: str, site: SiteProfile
) -> str | None:
    # The listing's host, or the one it redirected to (http → https, a www. host).
    hosts = {urlsplit(listing_url).netloc, urlsplit(page_url).netloc}
    for rule in site.next_page:
        for href in select(selector, rule).getall():
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


# --- html profiles ------------------------------------------------------------------------------


def select(selector: Selector, rule: str) -> SelectorList[Selector]:
    """A profile's selector: CSS (with parsel's ::text and ::attr()), or XPath after ``xpath:``."""
    if rule.startswith("xpath:"):
        return selector.xpath(rule.removeprefix("xpath:"))
    return selector.css(rule)


def _node_text(node: Selector) -> str:
    """An element's visible text with <br> as line breaks; a text or attribute node as is."""
    if not isinstance(node.root, etree._Element):
        return str(node.get())
    parts: list[str] = []
    for piece in node.xpath(".//text()[not(ancestor::script or ancestor::style)] | .//br"):
        parts.append("\n" if isinstance(piece.root, etree._Element) else str(piece.get()))
    return "".join(parts)


def read_field(block: Selector, rule: FieldRule | None) -> str | None:
    """The first match of the rule's selector (normalised), cut by its regex; None if absent."""
    if rule is None:
        return None
    if rule.select is not None:
        nodes = select(block, rule.select)
        if not nodes:
            return None
        value = normalize_text(_node_text(nodes[0]))
    else:
        value = normalize_text(_node_text(block))
    if rule.regex is not None:
        found = rule.regex.search(value)
        if found is None:
            return None
        groups = found.groupdict()
        value = groups.get("value") or (found.group(1) if found.groups() else found.group(0))
        value = normalize_text(value)
    return value or None


def _scaled_rating(value: str | None, site: SiteProfile) -> float | None:
    number = _number(value)
    worst, best = site.rating_scale
    if number is None or not worst <= number <= best:
        return None
    if (worst, best) == (1.0, 5.0):
        return number
    return round(1.0 + 4.0 * (number - worst) / (best - worst), 2)


def id_from_url(url: str | None, site: SiteProfile) -> str | None:
    if url is None or site.id_from_url is None:
        return None
    found = site.id_from_url.search(url)
    if found is None:
        return None
    return found.group(1) if found.groups() else found.group(0)


def _read_review(
    block: Selector, *, site: SiteProfile, page_url: str, site_id: str | None, now: datetime
) -> tuple[ReviewItem | None, str | None]:
    """One review from its block, or (None, why it was skipped)."""
    values = {name: read_field(block, rule) for name, rule in site.fields.items()}
    href = values.get("url")
    url = urljoin(page_url, href) if href else None
    site_id = site_id or values.get("id") or id_from_url(url, site)
    rating = _scaled_rating(values.get("rating"), site)
    missing = [
        name
        for name in site.required
        if (rating is None if name == "rating" else not values.get(name) and name != "id")
        or (name == "id" and site_id is None)
    ]
    if missing:
        return None, "missing " + ", ".join(missing)
    body = values.get("text") or ""
    title = values.get("title")
    if title and title not in body:
        body = f"{title}\n{body}" if body else title
    if not body and rating is None:
        return None, "no text and no rating"
    review = build_review(
        site_id=site_id,
        author=values.get("author"),
        rating=rating,
        body=body,
        date_raw=values.get("date"),
        url=url,
        now=now,
        date_format=site.date_format,
    )
    return review, None


def _blocks(html: str, rule: str) -> tuple[Selector, SelectorList[Selector]]:
    selector = Selector(text=html or "<html></html>")
    return selector, select(selector, rule)


def _extract_html_list(
    html: str, *, page_url: str, listing_url: str, site: SiteProfile, now: datetime
) -> ExtractedPage:
    assert site.review_block is not None
    selector, blocks = _blocks(html, site.review_block)
    page = ExtractedPage(
        reviews=[],
        has_review_markup=bool(blocks),
        next_url=None,
        blocks=len(blocks),
    )
    seen: set[str] = set()
    for index, block in enumerate(blocks, 1):
        # Hostile or broken markup costs one block, never the page.
        try:
            if site.detail_link is not None:
                hrefs = [h.strip() for h in select(block, site.detail_link).getall() if h.strip()]
                url = urljoin(page_url, hrefs[0]).split("#", 1)[0] if hrefs else None
                review_id = id_from_url(url, site) or read_field(block, site.fields.get("id"))
                if url is None or review_id is None:
                    raise _Skip("no link to the review's page" if url is None else "no review id")
                if review_id not in seen:
                    seen.add(review_id)
                    page.detail_links.append((review_id, url))
                continue
            review, problem = _read_review(
                block, site=site, page_url=page_url, site_id=None, now=now
            )
            if review is None:
                raise _Skip(problem or "unreadable")
            if review.external_id not in seen:
                seen.add(review.external_id)
                page.reviews.append(review)
        except Exception as exc:  # noqa: BLE001 - a broken block is skipped and counted
            page.skipped += 1
            page.problems.append(f"block {index}: {exc}")
    page.next_url = (
        _numbered_next(page_url, site)
        if site.page_number is not None
        else _next_from_links(selector, page_url=page_url, listing_url=listing_url, site=site)
    )
    return page


def extract_detail_page(
    html: str, *, page_url: str, review_id: str | None, site: SiteProfile, now: datetime
) -> ExtractedPage:
    """The review on its own page (html profiles with ``detail_link``)."""
    assert site.detail_block is not None
    _, blocks = _blocks(html, site.detail_block)
    page = ExtractedPage(reviews=[], has_review_markup=bool(blocks), next_url=None, blocks=1)
    if not blocks:
        page.skipped = 1
        page.problems.append(f"no {site.detail_block} on the review's page")
        return page
    try:
        review, problem = _read_review(
            blocks[0], site=site, page_url=page_url, site_id=review_id, now=now
        )
    except Exception as exc:  # noqa: BLE001 - hostile markup is one skipped review
        review, problem = None, str(exc)
    if review is None:
        page.skipped = 1
        page.problems.append(problem or "unreadable")
    else:
        if review.url is None:
            review.url = page_url if len(page_url) <= 2048 else None
        page.reviews.append(review)
    return page


class _Skip(Exception):
    """A review block that lacks what the profile requires."""
