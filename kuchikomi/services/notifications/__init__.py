"""Tell subscribers about new flagged reviews and bursts: e-mail (SMTP) and JSON webhooks.
Admins' subscriptions also hear when a listing's crawl health changes (kuchikomi.services.health).

- :mod:`.subscriptions` — who subscribes to what, by which channel; addresses and URLs checked;
- :mod:`.pending` — what is due to a subscription (new in its scope, not yet sent to it);
- :mod:`.messages` — what a message says: the digest, the e-mail rendered from ``templates/``
  (the HTML part with autoescape: review text is untrusted), the webhook's JSON body;
- :mod:`.sending` — delivery by SMTP or webhook (through the outbound address guard), and the
  record of each attempt and of what was sent.
"""

from kuchikomi.services.notifications.messages import (
    TEXT_PREVIEW,
    Digest,
    build_email,
    subject_for,
    webhook_body,
)
from kuchikomi.services.notifications.pending import (
    HEALTH_ROLE,
    pending_burst_ids,
    pending_health_ids,
    pending_review_ids,
)
from kuchikomi.services.notifications.sending import (
    USER_AGENT,
    DeliveryOutcome,
    notify_subscribers,
    notify_subscription,
    send_test,
)
from kuchikomi.services.notifications.subscriptions import (
    CHANNELS,
    STAFF_ROLES,
    SubscriptionError,
    add_subscription,
    last_deliveries,
    list_subscriptions,
)

__all__ = [
    "CHANNELS",
    "HEALTH_ROLE",
    "STAFF_ROLES",
    "TEXT_PREVIEW",
    "USER_AGENT",
    "DeliveryOutcome",
    "Digest",
    "SubscriptionError",
    "add_subscription",
    "build_email",
    "last_deliveries",
    "list_subscriptions",
    "notify_subscribers",
    "notify_subscription",
    "pending_burst_ids",
    "pending_health_ids",
    "pending_review_ids",
    "send_test",
    "subject_for",
    "webhook_body",
]
