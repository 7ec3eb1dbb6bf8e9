"""Computing the transparency statistics from the rows themselves.

Figures about the set (`hashes_by_*`, contributions) describe it now. Figures about activity
(matches, disputes, retractions) come from the audit log, within an optional period. Match
counts by label use each matched hash's labels as they are now. Matches reported by edges
come from their reports (counts per hour and label, with the labels the edge saw).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime
from typing import Any

from hashshare.db import UnitOfWork, utcnow
from hashshare.hashes.models import HashStatus
from hashshare.stats.repository import StatsRepository
from hashshare.stats.schemas import DayOfEdgeMatches, DayOfMatches, Disputes, Retractions, Stats


class StatsService:
    async def compute(
        self, uow: UnitOfWork, since: datetime | None = None, until: datetime | None = None
    ) -> Stats:
        """The statistics now, with activity within [since, until)."""
        repository = StatsRepository(uow.session)
        by_status: Counter[str] = Counter()
        by_type: dict[str, Counter[str]] = defaultdict(Counter)
        for signal_type, status, count in await repository.hashes_by_type_and_status():
            by_status[status] += count
            by_type[signal_type][status] += count

        by_label: Counter[str] = Counter()
        for hash_labels in await repository.labels_of_matchable():
            by_label.update(hash_labels)

        contributions = await repository.active_contributions_by_member()

        events = await repository.activity(since, until)
        labels = await repository.labels_of(
            {i for action, _, ids, _ in events if action == "match" for i in ids}
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

        edge_days: dict[date, dict[str, Any]] = {}
        for hour, member, edge, matches, hour_labels in await repository.edge_reports(since, until):
            figures = edge_days.setdefault(
                hour.date(), {"matches": 0, "labels": Counter(), "edges": set()}
            )
            figures["matches"] += matches
            figures["labels"].update(hour_labels)
            figures["edges"].add((member, edge))

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
            edge_matches_by_day=[
                DayOfEdgeMatches(
                    day=day,
                    matches=figures["matches"],
                    matches_by_label=dict(sorted(figures["labels"].items())),
                    edges=len(figures["edges"]),
                    members=len({member for member, _ in figures["edges"]}),
                )
                for day, figures in sorted(edge_days.items())
            ],
            disputes=disputes,
            retractions=retractions,
        )
