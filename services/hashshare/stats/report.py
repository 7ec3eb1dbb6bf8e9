"""A transparency report of a period, as Markdown or JSON (`hashshare report`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hashshare.stats.schemas import Stats

_PERIOD = re.compile(r"^(\d{4})(?:-(Q[1-4]|\d{2}))?$")


def parse_period(text: str) -> tuple[datetime, datetime]:
    """`2026`, `2026-Q4` or `2026-11` -> [start, end) in UTC."""
    match = _PERIOD.match(text)
    if not match:
        raise ValueError(f"period must look like 2026, 2026-Q4 or 2026-11, not {text!r}")
    year, part = int(match.group(1)), match.group(2)
    if part is None:
        first, months = 1, 12
    elif part.startswith("Q"):
        first, months = 3 * (int(part[1]) - 1) + 1, 3
    else:
        first, months = int(part), 1
        if not 1 <= first <= 12:
            raise ValueError(f"no month {first}")
    start = datetime(year, first, 1, tzinfo=UTC)
    end_month = first + months
    end = datetime(year + (end_month - 1) // 12, (end_month - 1) % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _table(title: str, rows: dict[str, int]) -> list[str]:
    lines = [f"| {title} | count |", "|---|---:|"]
    lines += [f"| {key} | {value:,} |" for key, value in rows.items()] or ["| (none) | 0 |"]
    return [*lines, ""]


def markdown(stats: Stats, period: str) -> str:
    matches = stats.matches_by_day
    by_label: dict[str, int] = {}
    for day in matches:
        for label, count in day.matches_by_label.items():
            by_label[label] = by_label.get(label, 0) + count
    edge_labels: dict[str, int] = {}
    for edge_day in stats.edge_matches_by_day:
        for label, count in edge_day.matches_by_label.items():
            edge_labels[label] = edge_labels.get(label, 0) + count
    lines = [
        f"# hashshare transparency report, {period}",
        "",
        f"Generated {stats.generated_at:%Y-%m-%d %H:%M} UTC. Activity from "
        f"{stats.since:%Y-%m-%d} to {stats.until:%Y-%m-%d} (exclusive); the contents of the "
        "shared set as of generation.",
        "",
        "## The shared set",
        "",
        *_table("status", stats.hashes_by_status),
        *_table(
            "signal type",
            {
                name: sum(statuses.values())
                for name, statuses in stats.hashes_by_signal_type.items()
            },
        ),
        *_table("label (matchable hashes)", stats.hashes_by_label),
        *_table("member (active contributions)", stats.contributions_by_member),
        "## Matching",
        "",
        f"- match requests: {sum(d.match_requests for d in matches):,}",
        f"- queries: {sum(d.queries for d in matches):,}, of which matched: "
        f"{sum(d.matched_queries for d in matches):,}",
        f"- matches: {sum(d.matches for d in matches):,}",
        "",
        *_table("label of matched hashes", dict(sorted(by_label.items()))),
        "## Matches reported by edges",
        "",
        "Members' own matchers (`hashshare edge --report-counts`) report counts per hour and "
        "label; these matches are not among the ones above.",
        "",
        f"- matches: {sum(d.matches for d in stats.edge_matches_by_day):,}",
        "",
        *_table("label of matched hashes", dict(sorted(edge_labels.items()))),
        "## Disputes and retractions",
        "",
        f"- disputes opened: {stats.disputes.opened}, lifted by agreement: "
        f"{stats.disputes.lifted}, open at generation: {stats.disputes.open_now}",
        "- resolved by an administrator: "
        + (", ".join(f"{k} {v}" for k, v in sorted(stats.disputes.resolved.items())) or "none"),
        f"- contributions retracted by members: {stats.retractions.contributions_retracted}",
        f"- hashes retracted by an administrator: {stats.retractions.hashes_retracted_by_admin}",
        f"- hashes retracted at generation: {stats.retractions.hashes_retracted_now}",
        "",
    ]
    return "\n".join(lines)
