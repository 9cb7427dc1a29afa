"""evidence bundles: the record of every bundle issued

Revision ID: 0009
Revises: 0007

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "evidence_bundle",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=False),
        sa.Column("bundle_sha256", sa.String(length=64), nullable=False),
        sa.Column("key_fingerprint", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_bundle")),
    )
    with op.batch_alter_table("evidence_bundle", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evidence_bundle_manifest_sha256"), ["manifest_sha256"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_evidence_bundle_review_id"), ["review_id"], unique=False
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("evidence_bundle", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_bundle_review_id"))
        batch_op.drop_index(batch_op.f("ix_evidence_bundle_manifest_sha256"))
    op.drop_table("evidence_bundle")
