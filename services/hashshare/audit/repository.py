"""All SQL of the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hashshare.audit.models import AuditEvent


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def append(self, event: AuditEvent) -> AuditEvent:
        self.session.add(event)
        await self.session.flush()
        return event

    async def list_events(
        self,
        *,
        member_id: str | None,
        action: str | None,
        since: datetime | None,
        until: datetime | None,
        before_id: int | None,
        limit: int,
    ) -> Sequence[AuditEvent]:
        """Newest first; `before_id` is the cursor (exclusive)."""
        query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
        if member_id is not None:
            query = query.where(AuditEvent.member_id == member_id)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        if since is not None:
            query = query.where(AuditEvent.occurred_at >= since)
        if until is not None:
            query = query.where(AuditEvent.occurred_at < until)
        if before_id is not None:
            query = query.where(AuditEvent.id < before_id)
        return (await self.session.scalars(query)).all()
