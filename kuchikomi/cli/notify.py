"""``kuchikomi notify``: subscriptions to the news of each crawl (e-mail or JSON webhook)."""

from __future__ import annotations

from enum import StrEnum

import typer

from kuchikomi.cli.common import (
    EXIT_FAILED,
    FORMAT_HELP,
    ListFormat,
    fail,
    print_json,
    print_table,
    require_schema,
)
from kuchikomi.schemas import MAX_DB_ID

app = typer.Typer(
    help="Notifications about new flagged reviews and bursts after each crawl.",
    no_args_is_help=True,
)


class Role(StrEnum):
    admin = "admin"
    reviewer = "reviewer"


@app.command("add")
def add(
    email: str | None = typer.Option(
        None, "--email", help="Send mail to these addresses (comma-separated)."
    ),
    webhook: str | None = typer.Option(None, "--webhook", help="POST JSON to this http(s) URL."),
    clinic: int | None = typer.Option(
        None, "--clinic", min=1, max=MAX_DB_ID, help="Only this clinic's news."
    ),
    role: Role | None = typer.Option(
        None, "--role", help="News of every clinic, for staff in this role."
    ),
    name: str | None = typer.Option(None, "--name", help="A label for the list."),
) -> None:
    """Subscribe an e-mail address list or a webhook; prints the new subscription's id.

    Only reviews flagged and bursts detected from now on are sent, each once.
    """
    from kuchikomi.services.notifications import add_subscription
    from models.db import session_scope

    if (email is None) == (webhook is None):
        fail("give either --email ADDRESSES or --webhook URL")
    require_schema()
    with session_scope() as session:
        subscription = add_subscription(
            session=session,
            channel="email" if email is not None else "webhook",
            target=email if email is not None else webhook or "",
            clinic_id=clinic,
            role=role.value if role else None,
            name=name,
        )
        subscription_id = subscription.id
    typer.echo(subscription_id)


@app.command("list")
def list_(
    format: ListFormat = typer.Option(ListFormat.table, "--format", help=FORMAT_HELP),
) -> None:
    """List subscriptions with their last delivery attempt."""
    from kuchikomi.services.notifications import last_deliveries, list_subscriptions
    from models.db import session_scope

    require_schema()
    with session_scope() as session:
        newest = last_deliveries(session=session)
        rows = []
        for s in list_subscriptions(session=session):
            last = newest.get(s.id)
            rows.append(
                {
                    "id": s.id,
                    "name": s.name,
                    "channel": s.channel,
                    "target": s.target,
                    "clinic_id": s.clinic_id,
                    "role": s.role,
                    "active": s.active,
                    "created_at": s.created_at.isoformat(),
                    "last_attempt_at": last.attempted_at.isoformat() if last else None,
                    "last_status": last.status if last else None,
                    "last_error": last.error if last else None,
                }
            )
    columns = ["id", "name", "channel", "target", "clinic_id", "role", "last_status", "last_error"]
    if format is ListFormat.json:
        print_json(rows)
    elif format is ListFormat.csv:
        from kuchikomi.cli.common import print_csv

        print_csv(rows, list(rows[0]) if rows else columns)
    else:
        print_table(rows, columns)


@app.command("remove")
def remove(
    subscription_id: int = typer.Argument(..., min=1, max=MAX_DB_ID, help="Subscription id."),
) -> None:
    """Delete a subscription and its delivery history."""
    from models import NotificationSubscription
    from models.db import session_scope

    require_schema()
    with session_scope() as session:
        subscription = session.get(NotificationSubscription, subscription_id)
        if subscription is None:
            fail(f"no subscription with id {subscription_id}")
        session.delete(subscription)
    typer.echo(f"removed subscription {subscription_id}")


@app.command("test")
def test(
    subscription_id: int = typer.Argument(..., min=1, max=MAX_DB_ID, help="Subscription id."),
) -> None:
    """Send a test message now; exit 1 (with the error) when it cannot be delivered."""
    from kuchikomi.services.notifications import send_test

    require_schema()
    outcome = send_test(subscription_id=subscription_id)
    if outcome.status != "sent":
        fail(f"delivery failed: {outcome.error}", EXIT_FAILED)
    typer.echo(f"test message sent ({outcome.channel})")


@app.command("send")
def send() -> None:
    """Send pending news now (a crawl does this by itself); exit 1 if a delivery failed."""
    from kuchikomi.services.notifications import notify_subscribers

    require_schema()
    outcomes = notify_subscribers(trigger="manual")
    for outcome in outcomes:
        line = (
            f"subscription {outcome.subscription_id} ({outcome.channel}): {outcome.status}, "
            f"{outcome.reviews} reviews, {outcome.bursts} bursts"
        )
        typer.echo(line + (f" — {outcome.error}" if outcome.error else ""))
    if not outcomes:
        typer.echo("nothing new to send")
    if any(o.status != "sent" for o in outcomes):
        raise typer.Exit(EXIT_FAILED)
