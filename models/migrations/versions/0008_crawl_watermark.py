"""crawl recovery: a per-listing watermark of what completed crawls have read

Revision ID: 0008
Revises: 0007

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("listing", schema=None) as batch_op:
        batch_op.add_column(sa.Column("crawl_watermark", sa.Integer(), nullable=True))
    # Listings whose last finished crawl went well: what that crawl had stored is known. Reviews
    # first seen after it finished (by a run killed since) stay above the watermark, so the next
    # crawl reads past them (docs/operations.md#crawl-run-recovery).
    op.execute(
        """
        UPDATE listing SET crawl_watermark = COALESCE(
            (SELECT MAX(review.id) FROM review
             WHERE review.listing_id = listing.id
               AND review.first_seen_at <= listing.last_crawl_at),
            0)
        WHERE last_crawl_status = 'ok'
        """
    )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("listing", schema=None) as batch_op:
        batch_op.drop_column("crawl_watermark")
