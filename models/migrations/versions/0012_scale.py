"""scale: summary tables for the dashboard, kept current by triggers (models/summaries.py)

Revision ID: 0012
Revises: 0007

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models import summaries

# revision identifiers, used by Alembic.
revision: str = "0012"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "listing_review_count",
        sa.Column("listing_id", sa.Integer(), nullable=False),
        sa.Column("reviews", sa.Integer(), server_default="0", nullable=False),
        sa.Column("removed", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["listing.id"],
            name=op.f("fk_listing_review_count_listing_id_listing"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("listing_id", name=op.f("pk_listing_review_count")),
    )
    op.create_table(
        "flagged_review",
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("listing_id", sa.Integer(), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["review.id"],
            name=op.f("fk_flagged_review_review_id_review"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("review_id", name=op.f("pk_flagged_review")),
    )
    with op.batch_alter_table("flagged_review", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_flagged_review_first_seen_at"), ["first_seen_at"], unique=False
        )
        batch_op.create_index(
            "ix_flagged_review_listing_seen", ["listing_id", "first_seen_at"], unique=False
        )
    # Triggers, then the backfill, in this migration's transaction (models/summaries.py).
    summaries.install(op.get_bind())


def downgrade() -> None:
    """Downgrade schema."""
    summaries.uninstall(op.get_bind())
    op.drop_table("flagged_review")
    op.drop_table("listing_review_count")
