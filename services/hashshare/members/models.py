from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from hashshare.db import Base, BigIntPK, UTCDateTime, utcnow


class Member(Base):
    __tablename__ = "members"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # False while the member is suspended: its tokens are refused with `member_suspended`.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class TokenRevocation(Base):
    """One revocation: a single token by its `jti`, or every token of a member issued
    before a time."""

    __tablename__ = "token_revocations"
    __table_args__ = (
        CheckConstraint(
            "(jti IS NOT NULL AND member_id IS NULL AND issued_before IS NULL) OR "
            "(jti IS NULL AND member_id IS NOT NULL AND issued_before IS NOT NULL)",
            name="one_kind",
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    jti: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    member_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("members.id"), default=None
    )
    issued_before: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_by: Mapped[str] = mapped_column(String(200))
