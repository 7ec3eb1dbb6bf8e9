"""All SQL of the transparency statistics: they read the set and the audit log as they are."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hashshare.audit.models import AuditEvent
from hashshare.edgereports.models import EdgeReport
from hashshare.hashes.models import MATCHABLE_STATUSES, Contribution, Hash

ACTIVITY = ("match", "hash.disputed", "hash.undisputed", "dispute.resolved", "hashes.retract")


class StatsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def hashes_by_type_and_status(self) -> Sequence[tuple[str, str, int]]:
        rows = await self.session.execute(
            select(Hash.signal_type, Hash.status, func.count()).group_by(
                Hash.signal_type, Hash.status
            )
        )
        return [(signal_type, status, count) for signal_type, status, count in rows]

    async def labels_of_matchable(self) -> list[list[str]]:
        matchable = [status.value for status in MATCHABLE_STATUSES]
        rows = await self.session.execute(select(Hash.labels).where(Hash.status.in_(matchable)))
        return [labels for (labels,) in rows]

    async def active_contributions_by_member(self) -> list[tuple[str, int]]:
        rows = await self.session.execute(
            select(Contribution.member_id, func.count())
            .where(Contribution.retracted_at.is_(None))
            .group_by(Contribution.member_id)
        )
        return [(member, count) for member, count in rows]

    async def activity(
        self, since: datetime | None, until: datetime | None
    ) -> list[tuple[str, datetime, list[int], dict[str, Any]]]:
        """The audit events the statistics count, oldest first, within [since, until)."""
        query = (
            select(
                AuditEvent.action, AuditEvent.occurred_at, AuditEvent.target_ids, AuditEvent.details
            )
            .where(AuditEvent.action.in_(ACTIVITY), AuditEvent.outcome == "ok")
            .order_by(AuditEvent.id)
        )
        if since is not None:
            query = query.where(AuditEvent.occurred_at >= since)
        if until is not None:
            query = query.where(AuditEvent.occurred_at < until)
        return [(a, t, list(ids), dict(d)) for a, t, ids, d in await self.session.execute(query)]

    async def labels_of(self, hash_ids: set[int]) -> dict[int, list[str]]:
        labels: dict[int, list[str]] = {}
        ordered = sorted(hash_ids)
        for start in range(0, len(ordered), 500):
            query = select(Hash.id, Hash.labels).where(Hash.id.in_(ordered[start : start + 500]))
            labels.update({hash_id: value for hash_id, value in await self.session.execute(query)})
        return labels

    async def edge_reports(
        self, since: datetime | None, until: datetime | None
    ) -> list[tuple[datetime, str, str, int, dict[str, int]]]:
        """The hours edges reported, whose start lies within [since, until), oldest first."""
        query = select(
            EdgeReport.hour,
            EdgeReport.member_id,
            EdgeReport.edge_id,
            EdgeReport.matches,
            EdgeReport.matches_by_label,
        ).order_by(EdgeReport.hour, EdgeReport.id)
        if since is not None:
            query = query.where(EdgeReport.hour >= since)
        if until is not None:
            query = query.where(EdgeReport.hour < until)
        return [
            (h, m, e, n, dict(labels)) for h, m, e, n, labels in await self.session.execute(query)
        ]
