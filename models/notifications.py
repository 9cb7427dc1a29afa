"""notification tables: who is told about new flagged reviews and bursts, and what was sent.

- ``notification_subscription``: one channel (an e-mail address list or a webhook URL) for one
  scope — a single clinic, or every clinic for a staff role (``admin``/``reviewer``).
- ``notification_delivery``: one row per attempt, sent or failed with the error, so an operator
  can see that the mail relay was down rather than wonder why nothing came.
- ``notified_item``: which reviews and bursts a subscription has been told about. An item is
  recorded only with a successful delivery, so a failed attempt is retried by the next crawl and
  nothing is ever sent twice to the same subscription.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow


class NotificationSubscription(Base):
    __tablename__ = "notification_subscription"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # "email" (target: comma-separated addresses) | "webhook" (target: an http(s) URL).
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(2048))
    # Scope: one clinic, or (clinic_id null) every clinic for the staff role named here.
    clinic_id: Mapped[int | None] = mapped_column(
        ForeignKey("clinic.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str | None] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Only reviews classified and bursts detected from this moment on are news to it.
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    deliveries: Mapped[list[NotificationDelivery]] = relationship(
        back_populates="subscription",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="NotificationDelivery.id",
    )


class NotificationDelivery(Base):
    __tablename__ = "notification_delivery"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("notification_subscription.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    # "pipeline" (after a crawl), "manual" (`kuchikomi notify send`) or "test".
    trigger: Mapped[str] = mapped_column(String(16))
    # "sent" | "failed"
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    review_count: Mapped[int] = mapped_column(Integer, default=0)
    burst_count: Mapped[int] = mapped_column(Integer, default=0)

    subscription: Mapped[NotificationSubscription] = relationship(back_populates="deliveries")


class NotifiedItem(Base):
    """A review or burst already sent to a subscription (never sent to it again)."""

    __tablename__ = "notified_item"

    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("notification_subscription.id", ondelete="CASCADE"), primary_key=True
    )
    # "review" | "burst"
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    item_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("notification_delivery.id", ondelete="CASCADE"), index=True
    )
