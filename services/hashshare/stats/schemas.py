"""API model of the transparency statistics."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class DayOfMatches(BaseModel):
    day: date
    match_requests: int = Field(description="Match requests (each may hold many queries).")
    queries: int
    matched_queries: int
    matches: int = Field(description="Hashes matched, counted once per matching query.")
    matches_by_label: dict[str, int]


class DayOfEdgeMatches(BaseModel):
    day: date
    matches: int = Field(description="Hashes matched on the edges, once per matching query.")
    matches_by_label: dict[str, int]
    edges: int = Field(description="Edges that reported hours of this day.")
    members: int = Field(description="Members whose edges reported hours of this day.")


class Disputes(BaseModel):
    opened: int = Field(description="Hashes that became disputed.")
    lifted: int = Field(description="Disputes that ended because agreement caught up.")
    resolved: dict[str, int] = Field(description="Admin decisions: reinstate / retract.")
    open_now: int = Field(description="Hashes disputed at the time of the report.")


class Retractions(BaseModel):
    contributions_retracted: int = Field(description="Contributions withdrawn by members.")
    hashes_retracted_by_admin: int
    hashes_retracted_now: int = Field(description="Hashes retracted at the time of the report.")


class Stats(BaseModel):
    generated_at: datetime
    since: datetime | None = Field(description="Start of the period of the activity figures.")
    until: datetime | None = Field(description="End (exclusive) of that period.")
    hashes_by_status: dict[str, int] = Field(description="The whole set, now.")
    hashes_by_signal_type: dict[str, dict[str, int]] = Field(description="Type -> status -> n.")
    hashes_by_label: dict[str, int] = Field(description="Matchable hashes (active or disputed).")
    contributions_by_member: dict[str, int] = Field(description="Active contributions, now.")
    matches_by_day: list[DayOfMatches]
    edge_matches_by_day: list[DayOfEdgeMatches] = Field(
        description="Matches reported by edges: members' local matchers that send their "
        "match counts per hour and label (`hashshare edge --report-counts`). Counted on the "
        "edges, not in `matches_by_day`; an hour belongs to the period when it starts in it."
    )
    disputes: Disputes
    retractions: Retractions
