"""Subscriptions: who hears about what, by which channel (e-mail addresses or a webhook URL).

Each subscription is one channel for one scope (a clinic, or every clinic for a staff role).
Addresses and URLs are checked when subscribed; a webhook must pass the outbound address guard
(:mod:`kuchikomi.services.outbound`), which checks it again at every delivery.
"""

from __future__ import annotations

from email.utils import getaddresses
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from kuchikomi.errors import Invalid
from kuchikomi.services.outbound import UnsafeURLError, check_target
from kuchikomi_settings import get_settings
from models import Clinic, NotificationDelivery, NotificationSubscription

CHANNELS = ("email", "webhook")
# Roles whose subscriptions cover every clinic; a clinic's own people subscribe per clinic.
STAFF_ROLES = ("admin", "reviewer")


class SubscriptionError(Invalid):
    """A subscription was described wrongly (bad address, URL, scope); nothing was stored."""


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
