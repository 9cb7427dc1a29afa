"""notifications: subscriptions, delivery log and the items already sent

Revision ID: 0005
Revises: 0004

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "notification_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=2048), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinic.id"],
            name=op.f("fk_notification_subscription_clinic_id_clinic"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_subscription")),
    )
    with op.batch_alter_table("notification_subscription", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notification_subscription_clinic_id"), ["clinic_id"], unique=False
        )

    op.create_table(
        "notification_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("review_count", sa.Integer(), nullable=False),
        sa.Column("burst_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["notification_subscription.id"],
            name=op.f("fk_notification_delivery_subscription_id_notification_subscription"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_delivery")),
    )
    with op.batch_alter_table("notification_delivery", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notification_delivery_subscription_id"),
            ["subscription_id"],
            unique=False,
        )

    op.create_table(
        "notified_item",
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["notification_delivery.id"],
            name=op.f("fk_notified_item_delivery_id_notification_delivery"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["notification_subscription.id"],
            name=op.f("fk_notified_item_subscription_id_notification_subscription"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "subscription_id", "kind", "item_id", name=op.f("pk_notified_item")
        ),
    )
    with op.batch_alter_table("notified_item", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notified_item_delivery_id"), ["delivery_id"], unique=False
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("notified_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notified_item_delivery_id"))
    op.drop_table("notified_item")
    with op.batch_alter_table("notification_delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_delivery_subscription_id"))
    op.drop_table("notification_delivery")
    with op.batch_alter_table("notification_subscription", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_subscription_clinic_id"))
    op.drop_table("notification_subscription")
