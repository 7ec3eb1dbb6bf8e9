"""Audit chain (digest per event, head row, append-only trigger) and member feedback.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from collections.abc import Sequence
from datetime import UTC

import sqlalchemy as sa
from alembic import op

from hashshare.audit.chain import GENESIS, link

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)

APPEND_ONLY_FUNCTION = """
CREATE FUNCTION hashshare_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""
APPEND_ONLY_TRIGGER = """
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION hashshare_audit_append_only()
"""


def _backfill_digests() -> tuple[int, str]:
    """Chain the events written before this revision, in sequence order."""
    connection = op.get_bind()
    events = sa.table(
        "audit_events",
        sa.column("id", sa.BigInteger()),
        sa.column("occurred_at", TIMESTAMP),
        sa.column("actor", sa.String()),
        sa.column("member_id", sa.String()),
        sa.column("action", sa.String()),
        sa.column("outcome", sa.String()),
        sa.column("request_id", sa.String()),
        sa.column("target_ids", sa.JSON()),
        sa.column("details", sa.JSON()),
        sa.column("digest", sa.String()),
    )
    digest, seq = GENESIS, 0
    rows = connection.execute(sa.select(events).order_by(events.c.id)).mappings().all()
    for row in rows:
        occurred_at = row["occurred_at"]
        fields = {
            **{name: row[name] for name in ("actor", "member_id", "action", "outcome")},
            "seq": row["id"],
            "occurred_at": occurred_at if occurred_at.tzinfo else occurred_at.replace(tzinfo=UTC),
            "request_id": row["request_id"],
            "target_ids": row["target_ids"],
            "details": row["details"],
        }
        digest, seq = link(digest, fields), row["id"]
        connection.execute(events.update().where(events.c.id == row["id"]).values(digest=digest))
    return seq, digest


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("digest", sa.String(64), nullable=True))
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    seq, digest = _backfill_digests()
    op.execute(
        sa.text("INSERT INTO audit_head (id, seq, digest) VALUES (1, :seq, :digest)").bindparams(
            seq=seq, digest=digest
        )
    )
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("digest", existing_type=sa.String(64), nullable=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_FUNCTION)
        op.execute(APPEND_ONLY_TRIGGER)

    op.create_table(
        "feedback",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("hash_id", BIGINT_PK, nullable=False),
        sa.Column("member_id", sa.String(64), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("verdict IN ('agree', 'disagree')", name=op.f("ck_feedback_verdict")),
        sa.ForeignKeyConstraint(
            ["hash_id"], ["hashes.id"], name=op.f("fk_feedback_hash_id_hashes"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_feedback_member_id_members"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
        sa.UniqueConstraint("hash_id", "member_id", name="uq_feedback_hash_id_member_id"),
    )
    with op.batch_alter_table("hashes") as batch:
        # Feedback given before this moment no longer counts (an admin reinstated the hash).
        batch.add_column(sa.Column("feedback_since", TIMESTAMP, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hashes") as batch:
        batch.drop_column("feedback_since")
    op.drop_table("feedback")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION hashshare_audit_append_only()")
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("digest")
