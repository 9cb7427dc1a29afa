"""Notifications: who gets what, sent once, escaped, and failures recorded rather than raised."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kuchikomi.services.notifications import (
    SubscriptionError,
    add_subscription,
    notify_subscribers,
    send_test,
)
from kuchikomi_settings import get_settings
from models import Burst, NotificationDelivery, NotificationSubscription, NotifiedItem
from tests.api.factories import make_clinic, make_review
from tests.notify.conftest import Mailbox, WebhookReceiver, free_port, html_part, text_part

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)> 院長は不正請求をしている'


def subscribe(session: Session, **kwargs: object) -> int:
    subscription = add_subscription(session=session, **kwargs)  # type: ignore[arg-type]
    session.commit()
    return subscription.id


def make_burst(session: Session, clinic_id: int, kind: str = "volume") -> Burst:
    burst = Burst(
        clinic_id=clinic_id,
        kind=kind,
        start=datetime(2025, 3, 1, tzinfo=UTC),
        end=datetime(2025, 3, 3, tzinfo=UTC),
        observed=12,
        expected=1.5,
        score=6.2,
        harmful_share=0.75,
        alarm_at=datetime(2025, 3, 3, tzinfo=UTC),
        details={},
    )
    session.add(burst)
    session.commit()
    return burst


def test_clinic_mail_lists_its_new_flagged_reviews_and_bursts_once(
    session: Session, mailbox: Mailbox
) -> None:
    sakura = make_clinic(session, "さくら内科クリニック")
    other = make_clinic(session, "みどり歯科")
    subscribe(session, channel="email", target="staff@sakura.example.jp", clinic_id=sakura.id)
    flagged = make_review(
        session,
        sakura.listings[0],
        text="院長は不正請求をしている",
        probability=0.91,
        category="defamation",
    )
    make_review(session, sakura.listings[0], text="待ち時間が長い", probability=0.2)
    make_review(session, other.listings[0], text="みどりの悪口 クズ", probability=0.95)
    make_burst(session, sakura.id)
    make_burst(session, other.id)

    outcomes = notify_subscribers()

    assert [(o.status, o.reviews, o.bursts) for o in outcomes] == [("sent", 1, 1)]
    assert len(mailbox.messages) == 1
    message = mailbox.messages[0]
    assert mailbox.recipients == [["staff@sakura.example.jp"]]
    assert message["Subject"] == (
        "[口コミガード] 要確認の口コミ1件・投稿の集中1件（さくら内科クリニック）"
    )
    body = text_part(message)
    assert "院長は不正請求をしている" in body
    assert "名誉毀損" in body and "有害確率 91%" in body
    assert f"https://guard.example.jp/reviews/{flagged.id}" in body
    assert "投稿数の急増" in body and "観測 12（平常 1.5）" in body
    # Another clinic's news and unflagged reviews are not in it.
    assert "みどり" not in body and "待ち時間" not in body
    assert "削除・非表示にすることはありません" in body

    # Nothing new: no second mail. Then one new review: only that one is sent.
    assert notify_subscribers() == []
    make_review(session, sakura.listings[0], text="受付の女はブス", probability=0.8)
    notify_subscribers()
    assert len(mailbox.messages) == 2
    second = text_part(mailbox.messages[1])
    assert "受付の女はブス" in second and "不正請求" not in second
    assert "投稿の集中" not in mailbox.messages[1]["Subject"]


def test_review_text_is_escaped_in_the_html_part_and_verbatim_in_the_text_part(
    session: Session, mailbox: Mailbox
) -> None:
    clinic = make_clinic(session, "ひかり<b>クリニック</b>")
    subscribe(session, channel="email", target="a@example.jp, b@example.jp", clinic_id=clinic.id)
    make_review(
        session,
        clinic.listings[0],
        text=XSS,
        author="<i>荒らし</i>",
        probability=0.9,
        url="javascript:alert(1)",
    )
    notify_subscribers()
    (message,) = mailbox.messages
    assert sorted(mailbox.recipients[0]) == ["a@example.jp", "b@example.jp"]
    html = html_part(message)
    assert "<script" not in html and "<img" not in html and "<i>" not in html
    assert "<b>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "javascript:" not in html  # a non-http link is not linked
    text = text_part(message)
    assert XSS in text and "&lt;" not in text
    assert "<i>荒らし</i>" in text


def test_role_subscription_covers_every_clinic_and_webhook_gets_json(
    session: Session, webhook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUCHIKOMI_NOTIFY__WEBHOOK_SECRET", "s3cret")
    get_settings.cache_clear()
    a = make_clinic(session, "A医院")
    b = make_clinic(session, "B医院")
    sid = subscribe(session, channel="webhook", target=webhook.url, role="reviewer")
    ra = make_review(session, a.listings[0], text=XSS, probability=0.7, category="insult")
    rb = make_review(session, b.listings[0], text="殺す", probability=0.99, category="threat")
    burst = make_burst(session, b.id, kind="duplicate")

    (outcome,) = notify_subscribers()

    assert outcome.status == "sent"
    (body,) = webhook.bodies
    assert body["type"] == "kuchikomi.flagged"
    assert body["subscription"] == {
        "id": sid,
        "name": "reviewer (all clinics)",
        "clinic_id": None,
        "role": "reviewer",
    }
    # Most probably harmful first; the text is the review's own, unescaped, for the consumer.
    assert [r["id"] for r in body["reviews"]] == [rb.id, ra.id]
    assert body["reviews"][1]["text"] == XSS
    assert body["reviews"][1]["clinic_name"] == "A医院"
    assert body["reviews"][0]["category"] == "threat"
    assert [b_["id"] for b_ in body["bursts"]] == [burst.id]
    assert body["bursts"][0]["kind"] == "duplicate"
    assert not any(k.startswith("_") for r in body["reviews"] for k in r)
    expected = hmac.new(b"s3cret", webhook.raw[0], hashlib.sha256).hexdigest()
    assert webhook.headers[0]["x-kuchikomi-signature"] == f"sha256={expected}"
    assert webhook.headers[0]["content-type"].startswith("application/json")


def test_reviews_flagged_before_the_subscription_and_removed_ones_are_not_news(
    session: Session, webhook: WebhookReceiver
) -> None:
    clinic = make_clinic(session)
    make_review(session, clinic.listings[0], text="以前からある悪口", probability=0.9)
    subscribe(session, channel="webhook", target=webhook.url, clinic_id=clinic.id)
    make_review(
        session,
        clinic.listings[0],
        text="もう消えた悪口",
        probability=0.9,
        removed_at=datetime(2025, 4, 1, tzinfo=UTC),
    )
    assert notify_subscribers() == []
    assert webhook.bodies == []


def test_a_dead_smtp_server_is_recorded_and_the_news_is_sent_next_time(
    session: Session, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch, webhook: WebhookReceiver
) -> None:
    clinic = make_clinic(session)
    mail_id = subscribe(session, channel="email", target="x@example.jp", clinic_id=clinic.id)
    hook_id = subscribe(session, channel="webhook", target=webhook.url, clinic_id=clinic.id)
    review = make_review(session, clinic.listings[0], text="ヤブ医者", probability=0.8)
    # Nothing listens on this port: the relay is down.
    monkeypatch.setenv("KUCHIKOMI_NOTIFY__SMTP_PORT", str(free_port()))
    get_settings.cache_clear()

    outcomes = {o.subscription_id: o for o in notify_subscribers()}

    assert outcomes[mail_id].status == "failed"
    assert "ConnectionRefusedError" in (outcomes[mail_id].error or "")
    # The webhook is independent of the broken relay.
    assert outcomes[hook_id].status == "sent"
    assert len(webhook.bodies) == 1
    session.expire_all()
    failed = session.scalars(
        select(NotificationDelivery).where(NotificationDelivery.subscription_id == mail_id)
    ).one()
    assert (failed.status, failed.trigger, failed.review_count) == ("failed", "pipeline", 1)
    assert "ConnectionRefusedError" in (failed.error or "")

    # The relay is back: the mail subscription gets the review it missed, the webhook nothing.
    monkeypatch.setenv("KUCHIKOMI_NOTIFY__SMTP_PORT", str(mailbox.port))
    get_settings.cache_clear()
    outcomes = {o.subscription_id: o for o in notify_subscribers()}
    assert list(outcomes) == [mail_id]
    assert outcomes[mail_id].status == "sent"
    assert "ヤブ医者" in text_part(mailbox.messages[0])
    assert len(webhook.bodies) == 1
    sent_items = session.scalars(
        select(NotifiedItem.item_id).where(NotifiedItem.subscription_id == mail_id)
    ).all()
    assert sent_items == [review.id]


def test_a_webhook_answering_an_error_is_a_failed_delivery_and_retried(
    session: Session, webhook: WebhookReceiver
) -> None:
    clinic = make_clinic(session)
    subscribe(session, channel="webhook", target=webhook.url, clinic_id=clinic.id)
    make_review(session, clinic.listings[0], text="ゴミ病院", probability=0.8)
    webhook.status = 500
    (outcome,) = notify_subscribers()
    assert outcome.status == "failed" and outcome.error == "RuntimeError: webhook answered HTTP 500"
    webhook.status = 200
    (outcome,) = notify_subscribers()
    assert outcome.status == "sent"
    assert len(webhook.bodies) == 2 and webhook.bodies[0]["reviews"] == webhook.bodies[1]["reviews"]
    assert notify_subscribers() == []


def test_long_lists_are_capped_and_counted(
    session: Session, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUCHIKOMI_NOTIFY__MAX_ITEMS", "2")
    get_settings.cache_clear()
    clinic = make_clinic(session)
    subscribe(session, channel="email", target="x@example.jp", clinic_id=clinic.id)
    for i in range(5):
        make_review(session, clinic.listings[0], text=f"悪口{i}", probability=0.6 + i / 100)
    (outcome,) = notify_subscribers()
    assert outcome.reviews == 5
    body = text_part(mailbox.messages[0])
    assert "要確認の口コミ（5件）" in body and "ほか 3 件" in body
    assert "悪口4" in body and "悪口3" in body and "悪口0" not in body
    assert notify_subscribers() == []


def test_test_message_reports_success_and_failure(
    session: Session, mailbox: Mailbox, webhook: WebhookReceiver
) -> None:
    clinic = make_clinic(session)
    mail_id = subscribe(session, channel="email", target="x@example.jp", clinic_id=clinic.id)
    hook_id = subscribe(session, channel="webhook", target=webhook.url, role="admin")
    assert send_test(subscription_id=mail_id).status == "sent"
    assert mailbox.messages[0]["Subject"] == "[口コミガード] 通知のテスト"
    webhook.status = 404
    outcome = send_test(subscription_id=hook_id)
    assert outcome.status == "failed" and "404" in (outcome.error or "")
    assert webhook.bodies[0]["type"] == "kuchikomi.test"
    with pytest.raises(SubscriptionError):
        send_test(subscription_id=9999)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"channel": "email", "target": "not-an-address", "role": "admin"}, "not an e-mail"),
        ({"channel": "email", "target": "a@x.jp\r\nBcc: b@x.jp", "role": "admin"}, "line breaks"),
        ({"channel": "webhook", "target": "ftp://x.example/h", "role": "admin"}, "http"),
        ({"channel": "webhook", "target": "http:///nohost", "role": "admin"}, "http"),
        ({"channel": "sms", "target": "0901234", "role": "admin"}, "unknown channel"),
        ({"channel": "email", "target": "a@x.jp"}, "either a clinic or a role"),
        ({"channel": "email", "target": "a@x.jp", "role": "clinic"}, "cannot subscribe"),
        ({"channel": "email", "target": "a@x.jp", "clinic_id": 424242}, "no clinic"),
    ],
)
def test_bad_subscriptions_are_refused_and_nothing_is_stored(
    session: Session, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(SubscriptionError, match=message):
        add_subscription(session=session, **kwargs)  # type: ignore[arg-type]
    session.rollback()
    assert session.scalar(select(func.count()).select_from(NotificationSubscription)) == 0
