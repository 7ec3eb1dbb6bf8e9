"""Recording what a member's edge reports: completed hours of local match counts.

An edge with `--report-counts` sends, for every completed hour in which it matched, how many
hashes matched and how many of those carried each label; never a hash value or a query
digest. Each (member, edge, hour) is recorded once: the same counts sent again (a retry
after a lost answer, a restart that resends) are acknowledged as `already_recorded` and
not counted twice; different counts for a recorded hour are refused (409
`edge_report_conflict`), since an hour is reported only once it is over. A report is taken
whole or not at all, and audited (`edge.report`) in the same transaction. The member is the
token's: a member can only ever report for itself.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hashshare.audit.service import record
from hashshare.auth.principal import Principal
from hashshare.db import UnitOfWork, utcnow
from hashshare.edgereports.repository import EdgeReportRepository
from hashshare.edgereports.schemas import (
    EdgeReportIn,
    EdgeReportOut,
    ReportedHour,
    ReportedHourResult,
)
from hashshare.errors import Conflict, ValidationFailed
from hashshare.labels.taxonomy import LABELS

REPORT_ACTION = "edge.report"
# An edge's clock may run a little ahead of the service's.
CLOCK_SKEW = timedelta(minutes=5)
HOUR = timedelta(hours=1)


def _check_hour(index: int, item: ReportedHour, now: datetime) -> datetime:
    hour = item.hour
    where = {"index": index, "hour": hour.isoformat()}
    if hour.tzinfo is None:
        raise ValidationFailed(
            "hours need a time zone, e.g. 2026-12-07T13:00:00Z",
            code="naive_datetime",
            details=where,
        )
    hour = hour.astimezone(UTC)
    if hour.minute or hour.second or hour.microsecond:
        raise ValidationFailed(
            "an hour starts on the hour (minutes and seconds 0)",
            code="hour_not_aligned",
            details=where,
        )
    if hour + HOUR > now + CLOCK_SKEW:
        raise ValidationFailed(
            "only completed hours are reported", code="hour_not_over", details=where
        )
    unknown = sorted(label for label in item.matches_by_label if label not in LABELS)
    if unknown:
        raise ValidationFailed(
            f"unknown labels: {', '.join(repr(label[:80]) for label in unknown[:5])}",
            code="unknown_label",
            details={**where, "labels": [label[:80] for label in unknown[:20]]},
        )
    over = sorted(label for label, n in item.matches_by_label.items() if n > item.matches)
    if over:
        raise ValidationFailed(
            "a label cannot have more matches than the hour has",
            code="inconsistent_counts",
            details={**where, "labels": over},
        )
    return hour


class EdgeReportService:
    async def report(
        self, uow: UnitOfWork, principal: Principal, body: EdgeReportIn
    ) -> EdgeReportOut:
        """Record the completed hours of one edge (all or none), audited."""
        now = utcnow()
        hours: dict[datetime, ReportedHour] = {}
        for index, item in enumerate(body.hours):
            hour = _check_hour(index, item, now)
            if hour in hours:
                raise ValidationFailed(
                    "an hour appears twice in the report",
                    code="duplicate_hour",
                    details={"index": index, "hour": hour.isoformat()},
                )
            hours[hour] = item
        member = principal.member_id
        repository = EdgeReportRepository(uow)
        inserted = await repository.insert_new(
            [
                {
                    "member_id": member,
                    "edge_id": body.edge,
                    "hour": hour,
                    "matches": item.matches,
                    "matches_by_label": dict(sorted(item.matches_by_label.items())),
                    "received_at": now,
                }
                for hour, item in hours.items()
            ]
        )
        earlier = await repository.recorded(
            member, body.edge, [hour for hour in hours if hour not in inserted]
        )
        conflicts = [
            hour.isoformat()
            for hour, row in sorted(earlier.items())
            if row.matches != hours[hour].matches
            or row.matches_by_label != dict(sorted(hours[hour].matches_by_label.items()))
        ]
        if conflicts:
            raise Conflict(
                "these hours were recorded before with other counts",
                code="edge_report_conflict",
                details={"hours": conflicts},
            )
        results = [
            ReportedHourResult(
                hour=hour, outcome="recorded" if hour in inserted else "already_recorded"
            )
            for hour in sorted(hours)
        ]
        details: dict[str, Any] = {
            "edge": body.edge,
            "hours": [
                {
                    "hour": hour.isoformat(),
                    "matches": hours[hour].matches,
                    "matches_by_label": dict(sorted(hours[hour].matches_by_label.items())),
                    "outcome": result.outcome,
                }
                for hour, result in zip(sorted(hours), results, strict=True)
            ],
        }
        await record(uow.session, principal.actor, REPORT_ACTION, details=details)
        return EdgeReportOut(member=member, edge=body.edge, results=results)
