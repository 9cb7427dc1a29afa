"""A small local website imitating a Japanese clinic review portal, for the demo and the tests.

Five clinics with reviews newest first, ten per page. Like real portals the markup varies: some
clinics embed schema.org ``Review`` as JSON-LD, some as microdata; pagination is a
``rel="next"`` link on some and a 「次へ」 text link on others; dates are printed as
``2025年3月4日``, ``2025/03/04``, ``2025年03月04日 14:30``, ISO 8601 or relative (``3日前``).
The reviews (site/clinics.json) mix harmful posts, legitimate criticism and praise, and include
hostile HTML that must come through as text.

Review dates are stored as "days before today", so the demo always shows recent activity (a
burst of attacks on one clinic); tests pass a fixed ``today`` so that pages do not change at
midnight.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape

from crawler.dates import JST
from kuchikomi.demo.serving import serve_handler

ROBOTS_TXT = "User-agent: *\nDisallow: /admin/\n"


@dataclass
class DemoReview:
    id: int
    author: str
    rating: int
    text: str
    posted: datetime  # JST

    def date_text(self, style: str, today: date) -> str:
        """The date as this clinic's page prints it (human-readable text)."""
        if style == "slash":
            return self.posted.strftime("%Y/%m/%d")
        if style == "kanji-time":
            return self.posted.strftime("%Y年%m月%d日 %H:%M")
        if style == "relative":
            return _relative(today - self.posted.date())
        return f"{self.posted.year}年{self.posted.month}月{self.posted.day}日"

    def date_machine(self, style: str, today: date) -> str:
        """The date as this clinic's structured data carries it (many sites put text there)."""
        if style == "iso":
            return self.posted.isoformat(timespec="seconds")
        return self.date_text(style, today)


def _relative(delta: timedelta) -> str:
    days = delta.days
    if days <= 0:
        return "今日"
    if days == 1:
        return "昨日"
    if days < 7:
        return f"{days}日前"
    if days < 30:
        return f"{days // 7}週間前"
    if days < 365:
        return f"{days // 30}か月前"
    return f"{days // 365}年前"


@dataclass
class DemoClinic:
    id: int
    name: str
    specialty: str
    address: str
    markup: str  # "json-ld" | "json-ld-graph" | "microdata"
    pagination: str  # "rel-next" | "next-text"
    date_style: str  # "kanji" | "slash" | "kanji-time" | "relative" | "iso"
    review_ids: bool  # whether the markup carries each review's own URL
    reviews: list[DemoReview]

    @property
    def listing_path(self) -> str:
        return f"/clinics/{self.id}/reviews"


@dataclass
class DemoPortal:
    """The portal's content; tests may hide reviews to imitate a takedown."""

    today: date | None = None
    clinics: list[DemoClinic] = field(default_factory=list)
    page_size: int = 10
    hidden_review_ids: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.today is None:
            self.today = datetime.now(JST).date()
        if not self.clinics:
            self.clinics, self.page_size = _load_clinics(self.today)

    def clinic(self, clinic_id: int) -> DemoClinic | None:
        return next((c for c in self.clinics if c.id == clinic_id), None)

    def visible_reviews(self, clinic: DemoClinic) -> list[DemoReview]:
        return [r for r in clinic.reviews if r.id not in self.hidden_review_ids]

    def page_count(self, clinic: DemoClinic) -> int:
        return max(1, -(-len(self.visible_reviews(clinic)) // self.page_size))


def _load_clinics(today: date) -> tuple[list[DemoClinic], int]:
    raw = json.loads(
        resources.files("kuchikomi.demo").joinpath("site/clinics.json").read_text("utf-8")
    )
    clinics = []
    for c in raw["clinics"]:
        reviews = [
            DemoReview(
                id=r["id"],
                author=r["author"],
                rating=r["rating"],
                text=r["text"],
                posted=datetime.combine(today - timedelta(days=r["days_ago"]), time(0, 0), JST)
                + timedelta(minutes=r["minute_of_day"]),
            )
            for r in c["reviews"]
        ]
        reviews.sort(key=lambda r: r.posted, reverse=True)  # newest first, as portals list them
        clinics.append(
            DemoClinic(
                id=c["id"],
                name=c["name"],
                specialty=c["specialty"],
                address=c["address"],
                markup=c["markup"],
                pagination=c["pagination"],
                date_style=c["date_style"],
                review_ids=c["review_ids"],
                reviews=reviews,
            )
        )
    return clinics, int(raw["page_size"])


_templates = Environment(
    loader=PackageLoader("kuchikomi.demo", "site/templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _json_for_script(data: Any) -> str:
    # Inside <script>, "</script>" in a review would end the element: escape <, > and &.
    text = json.dumps(data, ensure_ascii=False, indent=1)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class _Renderer:
    def __init__(self, portal: DemoPortal, base_url: str) -> None:
        self.portal = portal
        self.base_url = base_url

    def review_url(self, clinic: DemoClinic, review: DemoReview) -> str:
        return f"{self.base_url}{clinic.listing_path}/{review.id}"

    def listing(self, clinic: DemoClinic, page: int) -> str | None:
        reviews = self.portal.visible_reviews(clinic)
        pages = self.portal.page_count(clinic)
        if page < 1 or page > pages:
            return None
        size = self.portal.page_size
        shown = reviews[(page - 1) * size : page * size]
        return self._render(clinic, shown, page=page, pages=pages)

    def detail(self, clinic: DemoClinic, review_id: int) -> str | None:
        review = next((r for r in self.portal.visible_reviews(clinic) if r.id == review_id), None)
        if review is None:
            return None
        return self._render(clinic, [review], page=None, pages=None)

    def _render(
        self, clinic: DemoClinic, reviews: list[DemoReview], *, page: int | None, pages: int | None
    ) -> str:
        today = self.portal.today
        assert today is not None
        all_visible = self.portal.visible_reviews(clinic)
        average = sum(r.rating for r in all_visible) / len(all_visible) if all_visible else 0.0
        rows = [
            {
                "id": r.id,
                "url": self.review_url(clinic, r) if clinic.review_ids else None,
                "detail_url": self.review_url(clinic, r),
                "author": r.author,
                "rating": r.rating,
                "stars": "★" * r.rating + "☆" * (5 - r.rating),
                "text": r.text,
                "date_text": r.date_text(clinic.date_style, today),
                "date_machine": r.date_machine(clinic.date_style, today),
            }
            for r in reviews
        ]
        json_ld = None
        if clinic.markup.startswith("json-ld"):
            json_ld = _json_for_script(self._json_ld(clinic, rows, average, len(all_visible)))
        listing_url = f"{self.base_url}{clinic.listing_path}"

        def page_url(n: int) -> str:
            return listing_url if n == 1 else f"{listing_url}?page={n}"

        return _templates.get_template("listing.html").render(
            clinic=clinic,
            reviews=rows,
            average=f"{average:.1f}",
            review_count=len(all_visible),
            json_ld=json_ld,
            microdata=clinic.markup == "microdata",
            page=page,
            pages=pages,
            prev_url=page_url(page - 1) if page and page > 1 else None,
            next_url=page_url(page + 1) if page and pages and page < pages else None,
            page_urls=[(n, page_url(n)) for n in range(1, (pages or 0) + 1)],
            listing_url=listing_url,
        )

    def _json_ld(
        self, clinic: DemoClinic, rows: list[dict[str, Any]], average: float, count: int
    ) -> dict[str, Any]:
        organization: dict[str, Any] = {
            "@type": "MedicalClinic",
            "@id": f"{self.base_url}/clinics/{clinic.id}",
            "name": clinic.name,
            "medicalSpecialty": clinic.specialty,
            "address": clinic.address,
            "aggregateRating": {
                "@type": "AggregateRating",
                "ratingValue": round(average, 1),
                "reviewCount": count,
                "bestRating": 5,
            },
        }
        reviews = []
        for row in rows:
            review: dict[str, Any] = {
                "@type": "Review",
                "author": {"@type": "Person", "name": row["author"]},
                "reviewRating": {
                    "@type": "Rating",
                    "ratingValue": row["rating"],
                    "bestRating": 5,
                    "worstRating": 1,
                },
                "datePublished": row["date_machine"],
                "reviewBody": row["text"],
            }
            if row["url"]:
                review["@id"] = row["url"]
                review["url"] = row["url"]
            reviews.append(review)
        if clinic.markup == "json-ld-graph":
            for review in reviews:
                review["itemReviewed"] = {"@id": organization["@id"]}
            return {"@context": "https://schema.org", "@graph": [organization, *reviews]}
        return {"@context": "https://schema.org", **organization, "review": reviews}

    def index(self) -> str:
        return _templates.get_template("index.html").render(
            clinics=[(c, f"{self.base_url}{c.listing_path}") for c in self.portal.clinics]
        )


def _handler(portal: DemoPortal) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "DemoPortal/1.0"

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            address = self.server.server_address
            assert isinstance(address, tuple)  # a TCP server's (host, port)
            bound_host, bound_port = address[:2]
            host = self.headers.get("Host") or f"{bound_host}:{bound_port}"
            renderer = _Renderer(portal, f"http://{host}")
            parts = urlsplit(self.path)
            segments = [s for s in parts.path.split("/") if s]
            body: str | None = None
            content_type = "text/html; charset=utf-8"
            if parts.path == "/robots.txt":
                body, content_type = ROBOTS_TXT, "text/plain; charset=utf-8"
            elif not segments:
                body = renderer.index()
            elif len(segments) >= 3 and segments[0] == "clinics" and segments[2] == "reviews":
                clinic = portal.clinic(int(segments[1])) if segments[1].isdigit() else None
                if clinic is not None and len(segments) == 3:
                    page_arg = parse_qs(parts.query).get("page", ["1"])[0]
                    body = renderer.listing(clinic, int(page_arg)) if page_arg.isdigit() else None
                elif clinic is not None and len(segments) == 4 and segments[3].isdigit():
                    body = renderer.detail(clinic, int(segments[3]))
            if body is None:
                self._send(
                    HTTPStatus.NOT_FOUND, "ページが見つかりません", "text/plain; charset=utf-8"
                )
            else:
                self._send(HTTPStatus.OK, body, content_type)

        def _send(self, status: HTTPStatus, body: str, content_type: str) -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # quiet: the crawler's own log records every fetch

    return Handler


@contextmanager
def serve(portal: DemoPortal, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``portal`` on a background thread; yields the base URL (``http://host:port``)."""
    with serve_handler(_handler(portal), host=host, port=port, name="demo-portal") as base_url:
        yield base_url


@contextmanager
def running_portal(
    host: str = "127.0.0.1", port: int = 0, *, today: date | None = None
) -> Iterator[str]:
    """The demo portal on a background thread; yields its base URL. ``port=0`` picks a free one."""
    with serve(DemoPortal(today=today), host, port) as base_url:
        yield base_url


def listing_urls(base_url: str) -> list[tuple[str, str]]:
    """(clinic name, listing URL) for every clinic of the portal served at ``base_url``."""
    portal_clinics, _ = _load_clinics(date.today())
    return [(c.name, f"{base_url.rstrip('/')}{c.listing_path}") for c in portal_clinics]
