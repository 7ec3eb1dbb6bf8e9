from __future__ import annotations

from dataclasses import dataclass, field
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


@dataclass(slots=True)
class NewEvent:
    """An event to append. `AuditRepository.append_many` gives it its sequence number (`id`),
    its time (unless set) and its digest, and inserts it as a plain row."""

    actor: str | None
    member_id: str | None
    request_id: str | None
    action: str
    outcome: str
    target_ids: list[int] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    occurred_at: datetime | None = None
    id: int = 0
    digest: str = ""


def chain_fields(event: AuditEvent | NewEvent) -> dict[str, Any]:
    """An event as `audit.chain` encodes it."""
    return {
        "seq": event.id,
        "occurred_at": event.occurred_at,
        "actor": event.actor,
        "member_id": event.member_id,
        "action": event.action,
        "outcome": event.outcome,
        "request_id": event.request_id,
        "target_ids": list(event.target_ids),
        "details": event.details,
    }


class AuditHead(Base):
    """One row: the last sequence number and digest. Appending locks it until commit."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(64))
    # The last spool entry appended to the chain (SQLite only: `audit.spool`), set in the
    # transaction that appends it, so that no spooled event is appended twice.
    spool_mark: Mapped[int] = mapped_column(BigInteger, server_default="0")


class AuditCheckpoint(Base):
    """A published checkpoint: signed on the schedule or on request, kept for auditors to
    fetch. Append-only like the events (a trigger refuses UPDATE and DELETE on PostgreSQL)."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (Index("ix_audit_checkpoints_trigger_id", "trigger", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    head_digest: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(128))
    trigger: Mapped[str] = mapped_column(String(16))  # `schedule` or `request`
