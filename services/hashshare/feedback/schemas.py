"""API models of feedback and dispute resolution."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from hashshare.hashes.schemas import ContributionRecord, OwnContribution
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


class HashOut(BaseModel):
    """A hash as a member sees it, with the feedback on its listing."""

    id: int
    signal_type: str
    value: str
    labels: list[str]
    status: Literal["active", "disputed", "retracted"]
    contributors: int = Field(description="Members whose contribution is active.")
    first_contributed_at: datetime
    last_contributed_at: datetime
    your_contribution: OwnContribution | None = Field(
        description="Your own contribution, if you made one."
    )
    feedback: FeedbackCounts = Field(
        description="Members' current verdicts that count (since the last reinstatement)."
    )
    your_feedback: YourFeedback | None = Field(description="Your own verdict, if you gave one.")
    contributions: list[ContributionRecord] | None = Field(
        default=None, description="Every contribution; only for callers with `audit:read`."
    )


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


class DisputeVerdict(BaseModel):
    member_id: str
    verdict: str
    reason: str | None
    comment: str | None
    updated_at: datetime


class Dispute(BaseModel):
    hash_id: int
    signal_type: str
    value: str
    labels: list[str]
    contributors: int
    updated_at: datetime = Field(
        description="Last change to the listing: its status or its contributions."
    )
    feedback: FeedbackCounts = Field(description="The verdicts that count, by reason.")
    verdicts: list[DisputeVerdict] = Field(
        description="Each member's verdict that counts, newest first."
    )


class DisputePage(BaseModel):
    disputes: list[Dispute] = Field(description="In hash id order.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")
