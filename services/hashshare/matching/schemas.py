"""API models of matching."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr


class MatchQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signal_type: StrictStr = Field(description="A name from GET /v1/signal-types.")
    value: StrictStr = Field(description="The hash in hex.")
    max_distance: StrictInt | None = Field(
        default=None,
        description="Largest distance to report; defaults to the signal type's default and "
        "may not exceed the configured ceiling.",
    )


class MatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queries: list[MatchQuery] = Field(description="Up to 1,000 queries.")
    include_disputed: StrictBool = Field(
        default=False, description="Also report hashes whose listing is disputed."
    )


class MatchHit(BaseModel):
    hash_id: int
    signal_type: str
    value: str
    distance: int
    labels: list[str]
    status: Literal["active", "disputed"]
    contributors: int


class MatchResult(BaseModel):
    index: int = Field(description="Position of the query in the request.")
    signal_type: str
    max_distance: int
    matches: list[MatchHit] = Field(description="Nearest first.")


class MatchResponse(BaseModel):
    results: list[MatchResult]
    matched_queries: int
