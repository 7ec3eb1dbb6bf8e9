"""Edge reports: the match counts members' edges send per hour and label.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "edge_reports",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("member_id", sa.String(64), nullable=False),
        sa.Column("edge_id", sa.String(64), nullable=False),
        sa.Column("hour", TIMESTAMP, nullable=False),
        sa.Column("matches", sa.BigInteger(), nullable=False),
        sa.Column("matches_by_label", sa.JSON(), nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("matches >= 0", name=op.f("ck_edge_reports_matches_not_negative")),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_edge_reports_member_id_members"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_edge_reports")),
        sa.UniqueConstraint(
            "member_id", "edge_id", "hour", name="uq_edge_reports_member_edge_hour"
        ),
    )
    op.create_index(op.f("ix_edge_reports_hour"), "edge_reports", ["hour"])


def downgrade() -> None:
    op.drop_index(op.f("ix_edge_reports_hour"), table_name="edge_reports")
    op.drop_table("edge_reports")
