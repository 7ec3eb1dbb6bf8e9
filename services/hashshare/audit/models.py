from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hashshare.db import Base, BigIntPK, UTCDateTime, utcnow


class AuditEvent(Base):
    """One recorded action. `member_id` is not a foreign key: refused requests may name
    members that do not exist, and the record must outlive any member."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_member_id_id", "member_id", "id"),
        Index("ix_audit_events_action_id", "action", "id"),
        Index("ix_audit_events_occurred_at", "occurred_at"),
    )

    # The sequence number, assigned from `audit_head` under its lock (gapless, in commit order).
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str | None] = mapped_column(String(256), nullable=True)
    member_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    target_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    digest: Mapped[str] = mapped_column(String(64))

    def chain_fields(self) -> dict[str, Any]:
        """The event as `audit.chain` encodes it."""
        return {
            "seq": self.id,
            "occurred_at": self.occurred_at,
            "actor": self.actor,
            "member_id": self.member_id,
            "action": self.action,
            "outcome": self.outcome,
            "request_id": self.request_id,
            "target_ids": list(self.target_ids),
            "details": self.details,
        }


class AuditHead(Base):
    """One row: the last sequence number and digest. Appending locks it until commit."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(64))
