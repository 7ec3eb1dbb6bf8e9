"""Operator's controls: member suspension and token revocations.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("suspended_at", TIMESTAMP, nullable=True))
    op.create_table(
        "token_revocations",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("jti", sa.String(200), nullable=True),
        sa.Column("member_id", sa.String(64), nullable=True),
        sa.Column("issued_before", TIMESTAMP, nullable=True),
        sa.Column("revoked_at", TIMESTAMP, nullable=False),
        sa.Column("revoked_by", sa.String(200), nullable=False),
        sa.CheckConstraint(
            "(jti IS NOT NULL AND member_id IS NULL AND issued_before IS NULL) OR "
            "(jti IS NULL AND member_id IS NOT NULL AND issued_before IS NOT NULL)",
            name=op.f("ck_token_revocations_one_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_token_revocations_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_token_revocations")),
        sa.UniqueConstraint("jti", name=op.f("uq_token_revocations_jti")),
    )


def downgrade() -> None:
    op.drop_table("token_revocations")
    with op.batch_alter_table("members") as batch:
        batch.drop_column("suspended_at")
