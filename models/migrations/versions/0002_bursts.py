"""bursts: burst records and their member reviews

Revision ID: 0002
Revises: 0001

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "burst",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("observed", sa.Float(), nullable=False),
        sa.Column("expected", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("harmful_share", sa.Float(), nullable=False),
        sa.Column("alarm_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinic.id"],
            name=op.f("fk_burst_clinic_id_clinic"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_burst")),
    )
    with op.batch_alter_table("burst", schema=None) as batch_op:
        batch_op.create_index(
            "ix_burst_clinic_kind_start", ["clinic_id", "kind", "window_start"], unique=False
        )

    op.create_table(
        "burst_review",
        sa.Column("burst_id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["burst_id"],
            ["burst.id"],
            name=op.f("fk_burst_review_burst_id_burst"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["review.id"],
            name=op.f("fk_burst_review_review_id_review"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("burst_id", "review_id", name=op.f("pk_burst_review")),
    )
    with op.batch_alter_table("burst_review", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_burst_review_review_id"), ["review_id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("burst_review", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_burst_review_review_id"))
    op.drop_table("burst_review")
    with op.batch_alter_table("burst", schema=None) as batch_op:
        batch_op.drop_index("ix_burst_clinic_kind_start")
    op.drop_table("burst")
