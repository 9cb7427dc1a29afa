"""real sources: Google Business Profile connections and listings, per-listing crawl health

Revision ID: 0007
Revises: 0006

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "google_connection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=True),
        sa.Column("refresh_token_encrypted", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("status_detail", sa.Text(), nullable=True),
        sa.Column("status_since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_google_connection")),
    )
    with op.batch_alter_table("listing", schema=None) as batch_op:
        batch_op.add_column(sa.Column("google_location", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("google_connection_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("health_status", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("health_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("health_detail", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_listing_google_connection_id"), ["google_connection_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_listing_google_connection_id_google_connection"),
            "google_connection",
            ["google_connection_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("crawl_run_listing", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failure_kind", sa.String(length=32), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("crawl_run_listing", schema=None) as batch_op:
        batch_op.drop_column("failure_kind")
    with op.batch_alter_table("listing", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_listing_google_connection_id_google_connection"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_listing_google_connection_id"))
        batch_op.drop_column("last_success_at")
        batch_op.drop_column("consecutive_failures")
        batch_op.drop_column("health_detail")
        batch_op.drop_column("health_since")
        batch_op.drop_column("health_status")
        batch_op.drop_column("google_connection_id")
        batch_op.drop_column("google_location")
    op.drop_table("google_connection")
