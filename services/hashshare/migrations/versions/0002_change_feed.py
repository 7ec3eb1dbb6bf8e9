"""Change feed: every change to the shared set with a sequence number.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "changes",
        sa.Column("seq", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("hash_id", sa.BigInteger(), nullable=False),
        sa.Column("signal_type", sa.String(32), nullable=False),
        sa.Column("value", sa.LargeBinary(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("contributors", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_changes")),
    )
    op.create_index("ix_changes_hash_id", "changes", ["hash_id"])
    # Hashes that existed before the feed: one change each, so a replay is complete.
    op.execute(
        "INSERT INTO changes (hash_id, signal_type, value, status, labels, contributors,"
        " changed_at) SELECT id, signal_type, value, status, labels, contributors, updated_at"
        " FROM hashes ORDER BY id"
    )


def downgrade() -> None:
    op.drop_table("changes")
