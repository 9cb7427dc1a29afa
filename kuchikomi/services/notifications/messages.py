"""What one message says, and how: the digest of due items, rendered as an e-mail (plain text and
HTML from ``templates/``) or as a webhook's JSON body.

Review text is untrusted. The HTML part is rendered with autoescape; links are http(s) only;
header values never contain line breaks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from crawler.urls import http_url
from kuchikomi.japanese import ja_date
from kuchikomi.labels import BURST_KIND_JA, CATEGORY_JA
from kuchikomi.schemas import BurstPublic
from kuchikomi.services.bursts import list_burst_records
from kuchikomi.services.health import ADVICE_JA, STATUS_JA
from kuchikomi_settings import NotifySettings
from models import Clinic, Listing, NotificationSubscription, Review
from models.accounts import AuditEntry
from models.base import utcnow

# Review text is cut to this many characters in a message; the web page shows all of it.
TEXT_PREVIEW = 300


@dataclass
class Digest:
    """What one message says: new items in the subscription's scope (capped for display)."""

    scope_label: str
    reviews: list[dict[str, Any]]
    bursts: list[dict[str, Any]]
    omitted_reviews: int = 0
    omitted_bursts: int = 0
    test: bool = False
    # Crawl health changes (admins only): a listing no longer read as it should be, or read again.
    health: list[dict[str, Any]] = field(default_factory=list)
    omitted_health: int = 0

    @property
    def review_total(self) -> int:
        return len(self.reviews) + self.omitted_reviews

    @property
    def burst_total(self) -> int:
        return len(self.bursts) + self.omitted_bursts

    @property
    def health_total(self) -> int:
        return len(self.health) + self.omitted_health


def _page_url(settings: NotifySettings, path: str) -> str | None:
    if not settings.base_url:
        return None
    return settings.base_url.rstrip("/") + path


def _preview(text: str) -> str:
    return text if len(text) <= TEXT_PREVIEW else text[:TEXT_PREVIEW] + "…"


def _review_item(review: Review, settings: NotifySettings) -> dict[str, Any]:
    c = review.classification
    assert c is not None
    return {
        "id": review.id,
        "clinic_id": review.listing.clinic_id,
        "clinic_name": review.listing.clinic.name,
        "listing_url": review.listing.url,
        "url": review.url,
        "author": review.author,
        "posted_at": review.posted_at.isoformat() if review.posted_at else None,
        "first_seen_at": review.first_seen_at.isoformat(),
        "text": review.text,
        "label": c.label,
        "category": c.category,
        "harmful_probability": c.harmful_probability,
        "reasons": list(c.reasons or []),
        "page_url": _page_url(settings, f"/reviews/{review.id}"),
        # Display-only fields (not part of the webhook body).
        "_posted_ja": ja_date(review.posted_at),
        "_headline": (
            f"{review.listing.clinic.name} ／ {CATEGORY_JA.get(c.category or '', '分類なし')} ／ "
            f"有害確率 {c.harmful_probability * 100:.0f}%"
        ),
        "_link": http_url(review.url),
        "_preview": _preview(review.text),
    }


def _burst_item(burst: BurstPublic, clinic_names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": burst.id,
        "clinic_id": burst.clinic_id,
        "clinic_name": clinic_names.get(burst.clinic_id, ""),
        "kind": burst.kind,
        "start": burst.start.isoformat(),
        "end": burst.end.isoformat(),
        "observed": burst.observed,
        "expected": burst.expected,
        "score": burst.score,
        "review_ids": burst.review_ids,
        "_line": (
            f"{clinic_names.get(burst.clinic_id, '')} ／ "
            f"{BURST_KIND_JA.get(burst.kind, burst.kind)} ／ "
            f"{ja_date(burst.start)}〜{ja_date(burst.end)} ／ "
            f"観測 {burst.observed:g}（平常 {burst.expected:.1f}）"
        ),
    }


def _health_item(entry: AuditEntry, clinic_names: dict[int, str]) -> dict[str, Any]:
    before = (entry.before or {}).get("status")
    after = entry.after or {}
    status = after.get("status")
    clinic_id = after.get("clinic_id")
    return {
        "id": entry.id,
        "listing_id": int(entry.object_id),
        "clinic_id": clinic_id,
        "clinic_name": clinic_names.get(clinic_id, "") if isinstance(clinic_id, int) else "",
        "url": after.get("url"),
        "before": before,
        "status": status,
        "detail": after.get("detail"),
        "at": entry.at.isoformat(),
        "_line": (
            f"{clinic_names.get(clinic_id, '') if isinstance(clinic_id, int) else ''} ／ "
            f"{after.get('url', '')} ／ {STATUS_JA.get(before, before)} → "
            f"{STATUS_JA.get(status, status)}"
        ),
        "_advice": ADVICE_JA.get(status, ""),
        "_detail": _preview(str(after.get("detail") or "")),
    }


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if not k.startswith("_")}


def scope_label(session: Session, subscription: NotificationSubscription) -> str:
    if subscription.clinic_id is not None:
        clinic = session.get(Clinic, subscription.clinic_id)
        return clinic.name if clinic else f"医療機関 {subscription.clinic_id}"
    return "すべての医療機関"


# Autoescape on for the HTML part (review text, authors and clinic names are untrusted); the
# plain-text part is not HTML and must not be escaped.
_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
    trim_blocks=True,
    lstrip_blocks=True,
)
_html_template = _templates.get_template("digest.html")
_text_template = _templates.get_template("digest.txt")


def _one_line(value: str) -> str:
    return " ".join(value.split())


def subject_for(digest: Digest) -> str:
    if digest.test:
        return "[口コミガード] 通知のテスト"
    parts = []
    if digest.review_total:
        parts.append(f"要確認の口コミ{digest.review_total}件")
    if digest.burst_total:
        parts.append(f"投稿の集中{digest.burst_total}件")
    if digest.health_total:
        parts.append(f"巡回の状態の変化{digest.health_total}件")
    # Header values must not carry line breaks (clinic names are typed by people). No space
    # next to the digits: RFC 2047 encoded words drop the whitespace between them when decoded.
    return _one_line(f"[口コミガード] {'・'.join(parts)}（{digest.scope_label}）")


def build_email(digest: Digest, *, to: str, settings: NotifySettings) -> EmailMessage:
    subject = subject_for(digest)
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.mail_from
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.mail_from.rpartition("@")[2] or None)
    message.set_content(_text_template.render(digest=digest), charset="utf-8")
    message.add_alternative(
        _html_template.render(digest=digest, subject=subject), subtype="html", charset="utf-8"
    )
    return message


def webhook_body(digest: Digest, subscription: NotificationSubscription) -> dict[str, Any]:
    return {
        "type": "kuchikomi.test" if digest.test else "kuchikomi.flagged",
        "sent_at": utcnow().isoformat(),
        "subscription": {
            "id": subscription.id,
            "name": subscription.name,
            "clinic_id": subscription.clinic_id,
            "role": subscription.role,
        },
        "reviews": [_public(r) for r in digest.reviews],
        "bursts": [_public(b) for b in digest.bursts],
        "health": [_public(h) for h in digest.health],
        "omitted": {
            "reviews": digest.omitted_reviews,
            "bursts": digest.omitted_bursts,
            "health": digest.omitted_health,
        },
    }


def build_digest(
    session: Session,
    subscription: NotificationSubscription,
    review_ids: list[int],
    burst_ids: list[int],
    settings: NotifySettings,
    health_ids: list[int] | None = None,
) -> Digest:
    """The message's content: the first ``max_items`` of each kind in full, the rest counted."""
    cap = settings.max_items
    shown_reviews = {
        r.id: r
        for r in session.scalars(
            select(Review)
            .where(Review.id.in_(review_ids[:cap]))
            .options(
                joinedload(Review.listing).joinedload(Listing.clinic),
                joinedload(Review.classification),
            )
        ).unique()
    }
    shown_bursts = {b.id: b for b in list_burst_records(session=session, burst_ids=burst_ids[:cap])}
    health_ids = health_ids or []
    shown_health = {
        e.id: e
        for e in session.scalars(select(AuditEntry).where(AuditEntry.id.in_(health_ids[:cap])))
    }
    health_clinics = {
        e.after.get("clinic_id") for e in shown_health.values() if isinstance(e.after, dict)
    }
    clinic_names = dict(
        session.execute(
            select(Clinic.id, Clinic.name).where(
                Clinic.id.in_(
                    sorted({b.clinic_id for b in shown_bursts.values()})
                    + sorted(c for c in health_clinics if isinstance(c, int))
                )
            )
        )
        .tuples()
        .all()
    )
    return Digest(
        scope_label=scope_label(session, subscription),
        reviews=[_review_item(shown_reviews[i], settings) for i in review_ids[:cap]],
        bursts=[_burst_item(shown_bursts[i], clinic_names) for i in burst_ids[:cap]],
        omitted_reviews=max(0, len(review_ids) - cap),
        omitted_bursts=max(0, len(burst_ids) - cap),
        health=[_health_item(shown_health[i], clinic_names) for i in health_ids[:cap]],
        omitted_health=max(0, len(health_ids) - cap),
    )
