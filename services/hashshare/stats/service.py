"""Computing the transparency statistics from the rows themselves.

Figures about the set (`hashes_by_*`, contributions) describe it now. Figures about activity
(matches, disputes, retractions) come from the audit log, within an optional period. Match
counts by label use each matched hash's labels as they are now.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hashshare.audit.models import AuditEvent
from hashshare.db import UnitOfWork, utcnow
from hashshare.hashes.models import MATCHABLE_STATUSES, Contribution, Hash, HashStatus
from hashshare.stats.schemas import DayOfMatches, Disputes, Retractions, Stats

ACTIVITY = ("match", "hash.disputed", "hash.undisputed", "dispute.resolved", "hashes.retract")


async def _events(
    session: AsyncSession, since: datetime | None, until: datetime | None
) -> list[tuple[str, datetime, list[int], dict[str, Any]]]:
    query = (
        select(AuditEvent.action, AuditEvent.occurred_at, AuditEvent.target_ids, AuditEvent.details)
        .where(AuditEvent.action.in_(ACTIVITY), AuditEvent.outcome == "ok")
        .order_by(AuditEvent.id)
    )
    if since is not None:
        query = query.where(AuditEvent.occurred_at >= since)
    if until is not None:
        query = query.where(AuditEvent.occurred_at < until)
    return [(a, t, list(ids), dict(d)) for a, t, ids, d in await session.execute(query)]


async def _labels_of(session: AsyncSession, hash_ids: set[int]) -> dict[int, list[str]]:
    labels: dict[int, list[str]] = {}
    ordered = sorted(hash_ids)
    for start in range(0, len(ordered), 500):
        query = select(Hash.id, Hash.labels).where(Hash.id.in_(ordered[start : start + 500]))
        labels.update({hash_id: value for hash_id, value in await session.execute(query)})
    return labels


class StatsService:
    async def compute(
        self, uow: UnitOfWork, since: datetime | None = None, until: datetime | None = None
    ) -> Stats:
        """The statistics now, with activity within [since, until)."""
        return await _compute(uow.session, since, until)


async def _compute(
    session: AsyncSession, since: datetime | None = None, until: datetime | None = None
) -> Stats:
    by_status: Counter[str] = Counter()
    by_type: dict[str, Counter[str]] = defaultdict(Counter)
    rows = await session.execute(
        select(Hash.signal_type, Hash.status, func.count()).group_by(Hash.signal_type, Hash.status)
    )
    for signal_type, status, count in rows:
        by_status[status] += count
        by_type[signal_type][status] += count

    by_label: Counter[str] = Counter()
    matchable = [status.value for status in MATCHABLE_STATUSES]
    for (hash_labels,) in await session.execute(
        select(Hash.labels).where(Hash.status.in_(matchable))
    ):
        by_label.update(hash_labels)

    contributions = await session.execute(
        select(Contribution.member_id, func.count())
        .where(Contribution.retracted_at.is_(None))
        .group_by(Contribution.member_id)
    )

    events = await _events(session, since, until)
    labels = await _labels_of(
        session, {i for action, _, ids, _ in events if action == "match" for i in ids}
    )
    days: dict[date, dict[str, Any]] = {}
    disputes = Disputes(opened=0, lifted=0, resolved={}, open_now=by_status["disputed"])
    retractions = Retractions(
        contributions_retracted=0,
        hashes_retracted_by_admin=0,
        hashes_retracted_now=by_status[HashStatus.RETRACTED.value],
    )
    for action, occurred_at, target_ids, details in events:
        if action == "match":
            day = days.setdefault(
                occurred_at.date(),
                {"requests": 0, "queries": 0, "matched": 0, "matches": 0, "labels": Counter()},
            )
            day["requests"] += 1
            day["queries"] += int(details.get("queries", 0))
            day["matched"] += int(details.get("matched_queries", 0))
            day["matches"] += int(details.get("matches", 0))
            for hash_id in target_ids:
                day["labels"].update(labels.get(hash_id, []))
        elif action == "hash.disputed":
            disputes.opened += 1
        elif action == "hash.undisputed":
            disputes.lifted += 1
        elif action == "dispute.resolved":
            decision = str(details.get("decision"))
            disputes.resolved[decision] = disputes.resolved.get(decision, 0) + 1
            if decision == "retract":
                retractions.hashes_retracted_by_admin += 1
        elif action == "hashes.retract" and not details.get("already_retracted"):
            retractions.contributions_retracted += 1

    return Stats(
        generated_at=utcnow(),
        since=since,
        until=until,
        hashes_by_status=dict(sorted(by_status.items())),
        hashes_by_signal_type={k: dict(sorted(v.items())) for k, v in sorted(by_type.items())},
        hashes_by_label=dict(sorted(by_label.items())),
        contributions_by_member=dict(sorted((member, n) for member, n in contributions)),
        matches_by_day=[
            DayOfMatches(
                day=day,
                match_requests=figures["requests"],
                queries=figures["queries"],
                matched_queries=figures["matched"],
                matches=figures["matches"],
                matches_by_label=dict(sorted(figures["labels"].items())),
            )
            for day, figures in sorted(days.items())
        ],
        disputes=disputes,
        retractions=retractions,
    )
