"""Members, hashes, contributions and the audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "members",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
    )
    op.create_table(
        "hashes",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("signal_type", sa.String(32), nullable=False),
        sa.Column("value", sa.LargeBinary(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("contributors", sa.Integer(), nullable=False),
        sa.Column("first_contributed_at", TIMESTAMP, nullable=False),
        sa.Column("last_contributed_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'disputed', 'retracted')", name=op.f("ck_hashes_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hashes")),
        sa.UniqueConstraint("signal_type", "value", name="uq_hashes_signal_type_value"),
    )
    op.create_index("ix_hashes_status_id", "hashes", ["status", "id"])
    op.create_table(
        "contributions",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("hash_id", BIGINT_PK, nullable=False),
        sa.Column("member_id", sa.String(64), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("external_ref", sa.String(256), nullable=True),
        sa.Column("quality", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("retracted_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint(
            "quality IS NULL OR (quality >= 0 AND quality <= 100)",
            name=op.f("ck_contributions_quality"),
        ),
        sa.ForeignKeyConstraint(
            ["hash_id"],
            ["hashes.id"],
            name=op.f("fk_contributions_hash_id_hashes"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_contributions_member_id_members"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contributions")),
        sa.UniqueConstraint("hash_id", "member_id", name="uq_contributions_hash_id_member_id"),
    )
    op.create_index("ix_contributions_member_id", "contributions", ["member_id"])
    op.create_table(
        "audit_events",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.Column("actor", sa.String(256), nullable=True),
        sa.Column("member_id", sa.String(64), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("target_ids", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_member_id_id", "audit_events", ["member_id", "id"])
    op.create_index("ix_audit_events_action_id", "audit_events", ["action", "id"])
    op.create_index("ix_audit_events_occurred_at", "audit_events", ["occurred_at"])


def downgrade() -> None:
    op.drop_table("audit_events")
    op.drop_table("contributions")
    op.drop_table("hashes")
    op.drop_table("members")
