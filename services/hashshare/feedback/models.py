from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hashshare.db import Base, BigIntPK, UTCDateTime, utcnow


class Verdict(StrEnum):
    AGREE = "agree"
    DISAGREE = "disagree"


class Reason(StrEnum):
    NOT_TERRORIST_CONTENT = "not-terrorist-content"
    WRONG_LABEL = "wrong-label"
    NEWSWORTHY_OR_DOCUMENTARY = "newsworthy-or-documentary"
    COUNTER_SPEECH = "counter-speech"
    OTHER = "other"


class Feedback(Base):
    """A member's current verdict on a hash (one per member and hash)."""

    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("hash_id", "member_id", name="uq_feedback_hash_id_member_id"),
        CheckConstraint("verdict IN ('agree', 'disagree')", name="verdict"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    hash_id: Mapped[int] = mapped_column(ForeignKey("hashes.id", ondelete="RESTRICT"))
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id", ondelete="RESTRICT"))
    verdict: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
