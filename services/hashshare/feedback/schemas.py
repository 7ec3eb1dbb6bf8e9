"""API models of feedback and dispute resolution."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from hashshare.validation import StoredText


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verdict: Literal["agree", "disagree"] = Field(description="Your verdict on the listing.")
    reason: StrictStr | None = Field(
        default=None,
        description="Required to disagree: not-terrorist-content, wrong-label, "
        "newsworthy-or-documentary, counter-speech or other.",
    )
    comment: StoredText | None = Field(default=None, max_length=2000, description="Free text.")


class YourFeedback(BaseModel):
    verdict: str
    reason: str | None
    comment: str | None
    updated_at: datetime


class FeedbackCounts(BaseModel):
    agree: int
    disagree: int
    disagree_by_reason: dict[str, int]


class FeedbackOut(BaseModel):
    hash_id: int
    status: Literal["active", "disputed", "retracted"]
    feedback: FeedbackCounts
    your_feedback: YourFeedback


class ResolutionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["reinstate", "retract"] = Field(
        description="`reinstate`: the listing stands (active again; earlier feedback no longer "
        "counts). `retract`: every contribution is retracted and the hash stops matching."
    )
    reason: StoredText = Field(min_length=1, max_length=2000, description="Written reasons.")


class ResolutionOut(BaseModel):
    hash_id: int
    status: Literal["active", "disputed", "retracted"]
    decision: str
