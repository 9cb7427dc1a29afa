"""scale: a per-listing review count kept by triggers, indexes for the queue and the dashboard

Revision ID: 0012
Revises: 0007

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models import summaries

# revision identifiers, used by Alembic.
revision: str = "0012"
down_revision: str | Sequence[str] | None = "0007"
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
    # Triggers, then the backfill, in this migration's transaction (models/summaries.py).
    summaries.install(op.get_bind())


def downgrade() -> None:
    """Downgrade schema."""
    summaries.uninstall(op.get_bind())
    op.drop_table("listing_review_count")
