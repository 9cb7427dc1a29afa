"""burst records: each burst's staff record stored with it, kept honest by triggers; the review
dates indexed together for the dashboard's weekly trend

Revision ID: 0013
Revises: 0012

The records themselves are written by the application (``kuchikomi db upgrade`` right after the
migrations, every detection run, ``kuchikomi db refresh-stats``): a migration cannot import the
schema they are serialised from. Until then a burst's record is NULL and the listing builds it
from the rows, as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models import summaries

# revision identifiers, used by Alembic.
revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column("burst", sa.Column("record_json", sa.Text(), nullable=True))
    op.add_column("burst", sa.Column("record_schema", sa.String(length=16), nullable=True))
    summaries.install(op.get_bind())
    # Not batch operations: rebuilding ``review`` on SQLite would drop its summary triggers.
    op.create_index("ix_review_posted_seen", "review", ["posted_at", "first_seen_at"])
    op.create_index("ix_review_seen_posted", "review", ["first_seen_at", "posted_at"])
    op.drop_index("ix_review_posted_at", table_name="review")
    op.drop_index("ix_review_first_seen_at", table_name="review")


def downgrade() -> None:
    """Downgrade schema."""
    op.create_index("ix_review_first_seen_at", "review", ["first_seen_at"])
    op.create_index("ix_review_posted_at", "review", ["posted_at"])
    op.drop_index("ix_review_seen_posted", table_name="review")
    op.drop_index("ix_review_posted_seen", table_name="review")
    summaries.uninstall_burst_records(op.get_bind())
    # Dropped in place (SQLite 3.35+): a batch rebuild of ``burst`` would cascade to its members.
    op.execute("ALTER TABLE burst DROP COLUMN record_schema")
    op.execute("ALTER TABLE burst DROP COLUMN record_json")
