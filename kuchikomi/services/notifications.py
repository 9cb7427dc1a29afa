"""Tell subscribers about new flagged reviews and bursts: e-mail (SMTP) and JSON webhooks.
Admins' subscriptions also hear when a listing's crawl health changes (kuchikomi.services.health).

Called after every crawl pipeline run (:func:`notify_subscribers`) and by ``kuchikomi notify``.
Each subscription is one channel for one scope (a clinic, or every clinic for a staff role).
"New" means flagged/detected after the subscription was created and not yet sent to it: an item
is recorded as sent only together with a successful delivery, so a mail relay that is down
delays the news to the next crawl instead of losing or repeating it.

A failing relay or webhook never fails the crawl: the attempt is logged and stored in
``notification_delivery`` with the error.

Review text is untrusted. The mail's HTML part is rendered with autoescape; links are http(s)
only; header values never contain line breaks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from typing import Any, Literal
from urllib.parse import urlsplit

import jinja2
from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session, joinedload

from kuchikomi.errors import Invalid
from kuchikomi.japanese import ja_date
from kuchikomi.labels import BURST_KIND_JA, CATEGORY_JA
from kuchikomi.services.health import ADVICE_JA, STATUS_JA
from kuchikomi.services.health import AUDIT_ACTION as HEALTH_AUDIT_ACTION
from kuchikomi.services.outbound import UnsafeURLError, check_target, guarded_client
from kuchikomi_settings import NotifySettings, get_settings
from models import (
    Burst,
    Classification,
    Clinic,
    Listing,
    NotificationDelivery,
    NotificationSubscription,
    NotifiedItem,
    Review,
)
from models.accounts import AuditEntry
from models.base import utcnow
from models.db import session_scope

log = logging.getLogger(__name__)

CHANNELS = ("email", "webhook")
# Roles whose subscriptions cover every clinic; a clinic's own people subscribe per clinic.
STAFF_ROLES = ("admin", "reviewer")
# The role whose subscriptions hear about crawl health changes.
HEALTH_ROLE = "admin"
# Review text is cut to this many characters in a message; the web page shows all of it.
TEXT_PREVIEW = 300
USER_AGENT = "kuchikomi-guard notifications"


class SubscriptionError(Invalid):
    """A subscription was described wrongly (bad address, URL, scope); nothing was stored."""


@dataclass
class DeliveryOutcome:
    subscription_id: int
    channel: str
    status: Literal["sent", "failed"]
    reviews: int
    bursts: int
    error: str | None = None
    health: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "subscription_id": self.subscription_id,
            "channel": self.channel,
            "status": self.status,
            "reviews": self.reviews,
            "bursts": self.bursts,
            "health": self.health,
            "error": self.error,
        }


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


# --- subscriptions -------------------------------------------------------------------------


def _check_addresses(target: str) -> str:
    if "\r" in target or "\n" in target:
        raise SubscriptionError("e-mail addresses must not contain line breaks")
    addresses = [addr for _, addr in getaddresses([target]) if addr]
    if not addresses:
        raise SubscriptionError("give at least one e-mail address")
    for addr in addresses:
        local, _, domain = addr.rpartition("@")
        if not local or not domain or " " in addr:
            raise SubscriptionError(f"not an e-mail address: {addr!r}")
    return ", ".join(addresses)


def _check_webhook(target: str) -> str:
    try:
        parts = urlsplit(target)
    except ValueError:
        raise SubscriptionError(f"not a URL: {target!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SubscriptionError("a webhook must be an http:// or https:// URL with a host")
    # The crawler's address guard: no loopback, private or metadata addresses (outbound.py).
    try:
        check_target(target, allow_private_hosts=get_settings().allow_private_hosts)
    except UnsafeURLError as exc:
        raise SubscriptionError(f"webhook refused: {exc}") from None
    return target


def add_subscription(
    *,
    session: Session,
    channel: str,
    target: str,
    clinic_id: int | None = None,
    role: str | None = None,
    name: str | None = None,
) -> NotificationSubscription:
    """Store a subscription (not committed). Exactly one of ``clinic_id`` and ``role``."""
    if channel not in CHANNELS:
        raise SubscriptionError(f"unknown channel {channel!r}; use email or webhook")
    target = _check_addresses(target) if channel == "email" else _check_webhook(target.strip())
    if len(target) > 2048:
        raise SubscriptionError("the target is longer than 2048 characters")
    if (clinic_id is None) == (role is None):
        raise SubscriptionError("give either a clinic or a role (admin or reviewer)")
    if role is not None and role not in STAFF_ROLES:
        raise SubscriptionError(
            f"role {role!r} cannot subscribe to every clinic; use admin or reviewer, "
            "or subscribe a clinic's people with --clinic ID"
        )
    if clinic_id is not None:
        clinic = session.get(Clinic, clinic_id)
        if clinic is None:
            raise SubscriptionError(f"no clinic with id {clinic_id}")
        default_name = clinic.name
    else:
        default_name = f"{role} (all clinics)"
    subscription = NotificationSubscription(
        name=(name or default_name)[:200],
        channel=channel,
        target=target,
        clinic_id=clinic_id,
        role=role,
        active=True,
    )
    session.add(subscription)
    session.flush()
    return subscription


def list_subscriptions(*, session: Session) -> list[NotificationSubscription]:
    return list(
        session.scalars(select(NotificationSubscription).order_by(NotificationSubscription.id))
    )


def last_deliveries(*, session: Session) -> dict[int, NotificationDelivery]:
    """The newest delivery attempt of each subscription."""
    newest: dict[int, NotificationDelivery] = {}
    for delivery in session.scalars(select(NotificationDelivery).order_by(NotificationDelivery.id)):
        newest[delivery.subscription_id] = delivery
    return newest


# --- what is new ---------------------------------------------------------------------------


def _not_sent(subscription_id: int, kind: str, item_id: Any) -> Any:
    return ~exists().where(
        and_(
            NotifiedItem.subscription_id == subscription_id,
            NotifiedItem.kind == kind,
            NotifiedItem.item_id == item_id,
        )
    )


def pending_review_ids(*, session: Session, subscription: NotificationSubscription) -> list[int]:
    """Flagged, still-online reviews in scope, classified since the subscription began and not
    sent to it yet; most probably harmful first. Ids only: after a first crawl of many clinics
    this can be long, and only the first few are shown in full."""
    query = (
        select(Review.id)
        .join(Classification, Classification.review_id == Review.id)
        .join(Listing, Listing.id == Review.listing_id)
        .where(
            Classification.flagged.is_(True),
            Classification.classified_at >= subscription.created_at,
            Review.removed_at.is_(None),
            _not_sent(subscription.id, "review", Review.id),
        )
        .order_by(Classification.harmful_probability.desc(), Review.id)
    )
    if subscription.clinic_id is not None:
        query = query.where(Listing.clinic_id == subscription.clinic_id)
    return list(session.scalars(query))


def pending_health_ids(*, session: Session, subscription: NotificationSubscription) -> list[int]:
    """Crawl health changes (audit entries) since the subscription began, not sent to it yet.

    Only admins hear of them: fixing a profile or a blocked crawler is an operator's job, not
    something a clinic's people or reviewers can act on.
    """
    if subscription.role != HEALTH_ROLE:
        return []
    query = (
        select(AuditEntry.id)
        .where(
            AuditEntry.action == HEALTH_AUDIT_ACTION,
            AuditEntry.at >= subscription.created_at,
            _not_sent(subscription.id, "health", AuditEntry.id),
        )
        .order_by(AuditEntry.id)
    )
    return list(session.scalars(query))


def pending_burst_ids(*, session: Session, subscription: NotificationSubscription) -> list[int]:
    query = (
        select(Burst.id)
        .where(
            Burst.detected_at >= subscription.created_at,
            _not_sent(subscription.id, "burst", Burst.id),
        )
        .order_by(Burst.id)
    )
    if subscription.clinic_id is not None:
        query = query.where(Burst.clinic_id == subscription.clinic_id)
    return list(session.scalars(query))


# --- message content -----------------------------------------------------------------------


def _page_url(settings: NotifySettings, path: str) -> str | None:
    if not settings.base_url:
        return None
    return settings.base_url.rstrip("/") + path


def _http_url(value: str | None) -> str | None:
    """Only http(s) links with a host are linked; anything else (``javascript:``…) is text."""
    if not value:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme.lower() in ("http", "https") and parts.netloc else None


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
        "_link": _http_url(review.url),
        "_preview": _preview(review.text),
    }


def _burst_item(burst: Burst, clinic_names: dict[int, str]) -> dict[str, Any]:
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


def _scope_label(session: Session, subscription: NotificationSubscription) -> str:
    if subscription.clinic_id is not None:
        clinic = session.get(Clinic, subscription.clinic_id)
        return clinic.name if clinic else f"医療機関 {subscription.clinic_id}"
    return "すべての医療機関"


_TEXT_TEMPLATE = """\
{% if digest.test %}これは口コミガードの通知設定を確認するためのテストメッセージです。
{% else %}口コミガードの巡回で、新たに確認が必要なことがありました。
対象: {{ digest.scope_label }}
{% endif %}

このシステムが口コミを削除・非表示にすることはありません。「要確認」は有害と判定した結果ではなく、担当者に確認していただく候補です。内容を読んだうえで必ず人が判断してください。
{% if digest.reviews %}

■ 要確認の口コミ（{{ digest.review_total }}件）
{% for r in digest.reviews %}

- {{ r._headline }}
  投稿日: {{ r._posted_ja }}　投稿者: {{ r.author or "不明" }}
  本文: {{ r._preview }}
{% if r.page_url %}
  確認する: {{ r.page_url }}
{% endif %}
{% if r._link %}
  掲載元: {{ r._link }}
{% endif %}
{% endfor %}
{% if digest.omitted_reviews %}

ほか {{ digest.omitted_reviews }} 件は画面で確認してください。
{% endif %}
{% endif %}
{% if digest.bursts %}

■ 短期間への投稿の集中（{{ digest.burst_total }}件）
{% for b in digest.bursts %}
- {{ b._line }}
{% endfor %}
{% if digest.omitted_bursts %}
ほか {{ digest.omitted_bursts }} 件は画面で確認してください。
{% endif %}
{% endif %}
{% if digest.health %}

■ 巡回の状態の変化（{{ digest.health_total }}件）
{% for h in digest.health %}
- {{ h._line }}
{% if h._detail %}
  詳細: {{ h._detail }}
{% endif %}
{% if h._advice %}
  {{ h._advice }}
{% endif %}
{% endfor %}
{% if digest.omitted_health %}
ほか {{ digest.omitted_health }} 件は画面（巡回の状態）で確認してください。
{% endif %}
{% endif %}

――
口コミガード
"""

_HTML_TEMPLATE = """\
<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><title>{{ subject }}</title></head>
<body>
{% if digest.test %}
<p>これは口コミガードの通知設定を確認するためのテストメッセージです。</p>
{% else %}
<p>口コミガードの巡回で、新たに確認が必要なことがありました。<br>
対象: {{ digest.scope_label }}</p>
{% endif %}
<p><strong>このシステムが口コミを削除・非表示にすることはありません。</strong>「要確認」は有害と判定した結果ではなく、担当者に確認していただく候補です。内容を読んだうえで必ず人が判断してください。</p>
{% if digest.reviews %}
<h2>要確認の口コミ（{{ digest.review_total }}件）</h2>
<ul>
{% for r in digest.reviews %}
<li>
<p><strong>{{ r._headline }}</strong><br>
投稿日: {{ r._posted_ja }}　投稿者: {{ r.author or "不明" }}</p>
<blockquote>{{ r._preview }}</blockquote>
<p>{% if r.page_url %}<a href="{{ r.page_url }}">確認する</a>{% endif %}
{% if r._link %}
{% if r.page_url %} ・ {% endif %}
<a href="{{ r._link }}" rel="noopener noreferrer nofollow">掲載元</a>
{% endif %}
</p>
</li>
{% endfor %}
</ul>
{% if digest.omitted_reviews %}
<p>ほか {{ digest.omitted_reviews }} 件は画面で確認してください。</p>
{% endif %}
{% endif %}
{% if digest.bursts %}
<h2>短期間への投稿の集中（{{ digest.burst_total }}件）</h2>
<ul>
{% for b in digest.bursts %}
<li>{{ b._line }}</li>
{% endfor %}
</ul>
{% if digest.omitted_bursts %}
<p>ほか {{ digest.omitted_bursts }} 件は画面で確認してください。</p>
{% endif %}
{% endif %}
{% if digest.health %}
<h2>巡回の状態の変化（{{ digest.health_total }}件）</h2>
<ul>
{% for h in digest.health %}
<li>{{ h._line }}{% if h._detail %}<br>詳細: {{ h._detail }}{% endif %}
{% if h._advice %}<br>{{ h._advice }}{% endif %}</li>
{% endfor %}
</ul>
{% if digest.omitted_health %}
<p>ほか {{ digest.omitted_health }} 件は画面（巡回の状態）で確認してください。</p>
{% endif %}
{% endif %}
</body></html>
"""

# Autoescape on for the HTML part (review text, authors and clinic names are untrusted); the
# plain-text part is not HTML and must not be escaped.
_html_env = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
_text_env = jinja2.Environment(autoescape=False, trim_blocks=True, lstrip_blocks=True)
_html_template = _html_env.from_string(_HTML_TEMPLATE)
_text_template = _text_env.from_string(_TEXT_TEMPLATE)


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


# --- sending -------------------------------------------------------------------------------


def _send_email(message: EmailMessage, settings: NotifySettings) -> str | None:
    """Hand the message to the relay; returns a note about refused recipients, if any."""
    smtp_class = smtplib.SMTP_SSL if settings.smtp_security == "ssl" else smtplib.SMTP
    with smtp_class(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout) as smtp:
        if settings.smtp_security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_username:
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            smtp.login(settings.smtp_username, password)
        # Raises when every recipient is refused; returns the refused ones otherwise.
        refused = smtp.send_message(message)
    if refused:
        return "refused recipients: " + ", ".join(sorted(refused))
    return None


def _send_webhook(url: str, body: dict[str, Any], settings: NotifySettings) -> None:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
    if settings.webhook_secret is not None:
        key = settings.webhook_secret.get_secret_value().encode()
        headers["X-Kuchikomi-Signature"] = (
            "sha256=" + hmac.new(key, data, hashlib.sha256).hexdigest()
        )
    # Only to public addresses, checked at connection time; no redirects: a webhook that moved
    # is a configuration error worth seeing, and following one could lead anywhere.
    with guarded_client(
        timeout=settings.webhook_timeout,
        allow_private_hosts=get_settings().allow_private_hosts,
    ) as client:
        response = client.post(url, content=data, headers=headers)
    if response.is_redirect:
        raise RuntimeError(
            f"webhook answered HTTP {response.status_code} (a redirect; redirects are not "
            "followed, register the final URL)"
        )
    if not response.is_success:
        raise RuntimeError(f"webhook answered HTTP {response.status_code}")


def _deliver(
    subscription: NotificationSubscription, digest: Digest, settings: NotifySettings
) -> str | None:
    if subscription.channel == "email":
        message = build_email(digest, to=subscription.target, settings=settings)
        return _send_email(message, settings)
    _send_webhook(subscription.target, webhook_body(digest, subscription), settings)
    return None


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def _digest(
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
    shown_bursts = {
        b.id: b for b in session.scalars(select(Burst).where(Burst.id.in_(burst_ids[:cap])))
    }
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
        scope_label=_scope_label(session, subscription),
        reviews=[_review_item(shown_reviews[i], settings) for i in review_ids[:cap]],
        bursts=[_burst_item(shown_bursts[i], clinic_names) for i in burst_ids[:cap]],
        omitted_reviews=max(0, len(review_ids) - cap),
        omitted_bursts=max(0, len(burst_ids) - cap),
        health=[_health_item(shown_health[i], clinic_names) for i in health_ids[:cap]],
        omitted_health=max(0, len(health_ids) - cap),
    )


def notify_subscription(
    *, subscription_id: int, trigger: str = "pipeline"
) -> DeliveryOutcome | None:
    """Send one subscription its news; None when there is nothing new. Never raises for a
    failed delivery: the failure is recorded and returned."""
    settings = get_settings().notify
    with session_scope() as session:
        subscription = session.get(NotificationSubscription, subscription_id)
        if subscription is None or not subscription.active:
            return None
        reviews = pending_review_ids(session=session, subscription=subscription)
        bursts = pending_burst_ids(session=session, subscription=subscription)
        health = pending_health_ids(session=session, subscription=subscription)
        if not reviews and not bursts and not health:
            return None
        digest = _digest(session, subscription, reviews, bursts, settings, health)
        channel = subscription.channel
        try:
            note = _deliver(subscription, digest, settings)
        except Exception as exc:  # noqa: BLE001 - any relay/network error is recorded alike
            error = _error_text(exc)
            log.warning("notification %s (%s) failed: %s", subscription_id, channel, error)
            session.add(
                NotificationDelivery(
                    subscription_id=subscription_id,
                    trigger=trigger,
                    status="failed",
                    error=error,
                    review_count=len(reviews),
                    burst_count=len(bursts),
                )
            )
            return DeliveryOutcome(
                subscription_id, channel, "failed", len(reviews), len(bursts), error, len(health)
            )
        delivery = NotificationDelivery(
            subscription_id=subscription_id,
            trigger=trigger,
            status="sent",
            error=note,
            review_count=len(reviews),
            burst_count=len(bursts),
        )
        session.add(delivery)
        session.flush()
        # Everything counted is recorded, including items beyond the display cap: the message
        # said how many there were and where to see them.
        session.add_all(
            [
                NotifiedItem(
                    subscription_id=subscription_id,
                    kind="review",
                    item_id=review_id,
                    delivery_id=delivery.id,
                )
                for review_id in reviews
            ]
            + [
                NotifiedItem(
                    subscription_id=subscription_id,
                    kind="burst",
                    item_id=burst_id,
                    delivery_id=delivery.id,
                )
                for burst_id in bursts
            ]
            + [
                NotifiedItem(
                    subscription_id=subscription_id,
                    kind="health",
                    item_id=entry_id,
                    delivery_id=delivery.id,
                )
                for entry_id in health
            ]
        )
        log.info(
            "notification %s (%s) sent: %d reviews, %d bursts",
            subscription_id,
            channel,
            len(reviews),
            len(bursts),
        )
        return DeliveryOutcome(
            subscription_id, channel, "sent", len(reviews), len(bursts), note, len(health)
        )


def notify_subscribers(*, trigger: str = "pipeline") -> list[DeliveryOutcome]:
    """Send every active subscription its news. One subscription's failure (even an unexpected
    one, such as a database error) does not stop the others."""
    with session_scope() as session:
        ids = list(
            session.scalars(
                select(NotificationSubscription.id)
                .where(NotificationSubscription.active.is_(True))
                .order_by(NotificationSubscription.id)
            )
        )
    outcomes = []
    for subscription_id in ids:
        try:
            outcome = notify_subscription(subscription_id=subscription_id, trigger=trigger)
        except Exception:
            log.exception("notification %s could not be prepared", subscription_id)
            continue
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def send_test(*, subscription_id: int) -> DeliveryOutcome:
    """Send a test message (no reviews listed, nothing marked as sent); the attempt is recorded.

    Raises :class:`SubscriptionError` when there is no such subscription.
    """
    settings = get_settings().notify
    with session_scope() as session:
        subscription = session.get(NotificationSubscription, subscription_id)
        if subscription is None:
            raise SubscriptionError(f"no subscription with id {subscription_id}")
        digest = Digest(
            scope_label=_scope_label(session, subscription), reviews=[], bursts=[], test=True
        )
        status: Literal["sent", "failed"] = "sent"
        try:
            error = _deliver(subscription, digest, settings)
        except Exception as exc:  # noqa: BLE001 - reported to the operator, not raised
            status, error = "failed", _error_text(exc)
        session.add(
            NotificationDelivery(
                subscription_id=subscription_id, trigger="test", status=status, error=error
            )
        )
        return DeliveryOutcome(subscription_id, subscription.channel, status, 0, 0, error)
