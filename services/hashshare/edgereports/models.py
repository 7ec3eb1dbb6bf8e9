from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hashshare.db import Base, BigIntPK, UTCDateTime, utcnow


class EdgeReport(Base):
    """One completed hour of one edge's local matches, as the edge reported it."""

    __tablename__ = "edge_reports"
    __table_args__ = (
        UniqueConstraint("member_id", "edge_id", "hour", name="uq_edge_reports_member_edge_hour"),
        CheckConstraint("matches >= 0", name="matches_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id", ondelete="RESTRICT"))
    edge_id: Mapped[str] = mapped_column(String(64))
    hour: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    matches: Mapped[int] = mapped_column(BigInteger)
    # label -> matches of hashes carrying it (a hash with two labels counts for both).
    matches_by_label: Mapped[dict[str, int]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
