from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from hashshare.db import Base, BigIntPK, UTCDateTime, utcnow


class HashStatus(StrEnum):
    ACTIVE = "active"
    DISPUTED = "disputed"
    RETRACTED = "retracted"


MATCHABLE_STATUSES = (HashStatus.ACTIVE, HashStatus.DISPUTED)


class Hash(Base):
    """One value of one signal type in the shared set."""

    __tablename__ = "hashes"
    __table_args__ = (
        UniqueConstraint("signal_type", "value", name="uq_hashes_signal_type_value"),
        CheckConstraint("status IN ('active', 'disputed', 'retracted')", name="status"),
        Index("ix_hashes_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    signal_type: Mapped[str] = mapped_column(String(32))
    value: Mapped[bytes] = mapped_column(LargeBinary(64))
    status: Mapped[str] = mapped_column(String(16), default=HashStatus.ACTIVE.value)
    # Sorted union of the labels of the active contributions (kept on the last retraction).
    labels: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Number of active contributions, kept with the row so a match needs no join.
    contributors: Mapped[int] = mapped_column(Integer, default=0)
    first_contributed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_contributed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when an admin reinstates a disputed hash: earlier feedback no longer counts.
    feedback_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Contribution(Base):
    """A member's submission of a hash; retracted contributions stay as history."""

    __tablename__ = "contributions"
    __table_args__ = (
        UniqueConstraint("hash_id", "member_id", name="uq_contributions_hash_id_member_id"),
        Index("ix_contributions_member_id", "member_id"),
        CheckConstraint("quality IS NULL OR (quality >= 0 AND quality <= 100)", name="quality"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    hash_id: Mapped[int] = mapped_column(ForeignKey("hashes.id", ondelete="RESTRICT"))
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id", ondelete="RESTRICT"))
    labels: Mapped[list[str]] = mapped_column(JSON, default=list)
    external_ref: Mapped[str | None] = mapped_column(String(256), nullable=True)
    quality: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retracted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
