"""API models of edge reports."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr

from hashshare.validation import iso_8601_text

MAX_HOURS = 744  # a month of hours in one report
MAX_COUNT = 10**12
EDGE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"

Count = Annotated[StrictInt, Field(ge=0, le=MAX_COUNT)]


def _time_text(value: Any) -> Any:
    """Only ISO 8601 text: a number would be read as seconds since 1970."""
    if not isinstance(value, str):
        raise ValueError("expected an ISO 8601 date-time, e.g. 2026-12-07T13:00:00Z")
    return iso_8601_text(value)


class ReportedHour(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hour: Annotated[datetime, BeforeValidator(_time_text)] = Field(
        description="Start of a completed hour, on the hour, with a time zone "
        "(e.g. 2026-12-07T13:00:00Z)."
    )
    matches: Count = Field(
        description="Hashes matched in that hour, counted once per matching query."
    )
    matches_by_label: dict[str, Count] = Field(
        description="Label -> matches of hashes carrying it, as in GET /v1/stats "
        "(a hash with two labels counts for each)."
    )


class EdgeReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    edge: StrictStr = Field(
        pattern=EDGE_ID_PATTERN,
        description="The reporting edge's identifier, stable across its restarts; an hour "
        "is recorded once per member, edge and hour.",
    )
    hours: list[ReportedHour] = Field(min_length=1, max_length=MAX_HOURS)


class ReportedHourResult(BaseModel):
    hour: datetime
    outcome: Literal["recorded", "already_recorded"] = Field(
        description="`already_recorded`: the same counts were received before (a retry); "
        "they are not counted twice."
    )


class EdgeReportOut(BaseModel):
    member: str
    edge: str
    results: list[ReportedHourResult]
