"""The service's own counters and histograms, which services and the audit writer update;
`metrics.py` serves them (with the HTTP, index and feed figures) at GET /metrics.

Kept apart from `metrics.py` so that nothing below the routers imports the web framework.
Counters count answers a service gave, before the request's transaction committed: a commit
that then fails (503 `database_unavailable`, rare) was counted all the same.
"""

from __future__ import annotations

import functools
from collections import Counter as Tally
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.metrics import MetricWrapperBase

MATCH_LOOKUPS = Counter(
    "hashshare_match_lookups",
    "Queries looked up in the match index, by signal type.",
    ["signal_type"],
)
MATCH_HITS = Counter(
    "hashshare_match_hits",
    "Queries that matched at least one hash (reported to the caller), by signal type.",
    ["signal_type"],
)
MATCH_MISSES = Counter(
    "hashshare_match_misses",
    "Queries that matched nothing, by signal type.",
    ["signal_type"],
)
SUBMISSIONS = Counter(
    "hashshare_submissions",
    "Submitted hashes by outcome: created, existing, updated (per item of an accepted batch), "
    "rejected (every item of a batch refused as invalid, too large or empty).",
    ["outcome"],
)
FEEDBACK = Counter("hashshare_feedback", "Feedback given by members, by verdict.", ["verdict"])
DISPUTES = Counter(
    "hashshare_disputes",
    "Disputes by outcome: opened (a hash became disputed), withdrawn (feedback made it active "
    "again), reinstated and retracted (an admin's resolution).",
    ["outcome"],
)
AUDIT_BATCH_EVENTS = Histogram(
    "hashshare_audit_batch_events",
    "Events the audit writer committed per transaction (matches and refusals).",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)
AUDIT_COMMIT_SECONDS = Histogram(
    "hashshare_audit_commit_seconds",
    "Time the audit writer took to append a batch and commit it.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

AUDIT_SPOOL_EVENTS = Counter(
    "hashshare_audit_spool_events",
    "Audit events through SQLite's spool: spooled (the database was locked by a bulk write when "
    "they were recorded), appended (moved from the spool to the chain), unreadable (entries "
    "the drain could not read, kept in the spool's table 'unreadable').",
    ["stage"],
)


@functools.lru_cache(maxsize=4096)
def labelled(metric: MetricWrapperBase, *values: str) -> Any:
    """`metric.labels(*values)`, remembered: the hot paths update the same few series on
    every request, and prometheus-client checks and locks on each `labels()` call."""
    return metric.labels(*values)


def count_matches(lookups: Tally[str], hits: Tally[str]) -> None:
    """Add one match request's lookups and hits (misses are the difference)."""
    for signal_type, looked_up in lookups.items():
        hit = hits.get(signal_type, 0)
        labelled(MATCH_LOOKUPS, signal_type).inc(looked_up)
        if hit:
            labelled(MATCH_HITS, signal_type).inc(hit)
        if looked_up > hit:
            labelled(MATCH_MISSES, signal_type).inc(looked_up - hit)
