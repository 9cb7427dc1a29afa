"""Sending: deliver each subscription its due items by SMTP or webhook, and record the attempt.

Called after every crawl pipeline run (:func:`notify_subscribers`) and by ``kuchikomi notify``.
An item is recorded as sent only together with a successful delivery, so a mail relay that is
down delays the news to the next crawl instead of losing or repeating it. A failing relay or
webhook never fails the crawl: the attempt is logged and stored in ``notification_delivery``
with the error.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Literal

from sqlalchemy import select

from kuchikomi.services.notifications.messages import (
    Digest,
    build_digest,
    build_email,
    scope_label,
    webhook_body,
)
from kuchikomi.services.notifications.pending import (
    pending_burst_ids,
    pending_health_ids,
    pending_review_ids,
)
from kuchikomi.services.notifications.subscriptions import SubscriptionError
from kuchikomi.services.outbound import guarded_client
from kuchikomi_settings import NotifySettings, get_settings
from models import NotificationDelivery, NotificationSubscription, NotifiedItem
from models.db import session_scope

log = logging.getLogger(__name__)

USER_AGENT = "kuchikomi-guard notifications"


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
        digest = build_digest(session, subscription, reviews, bursts, settings, health)
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
            NotifiedItem(
                subscription_id=subscription_id, kind=kind, item_id=item_id, delivery_id=delivery.id
            )
            for kind, ids in (("review", reviews), ("burst", bursts), ("health", health))
            for item_id in ids
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
            scope_label=scope_label(session, subscription), reviews=[], bursts=[], test=True
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
