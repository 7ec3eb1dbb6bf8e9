"""API models of submission, lookup and retraction."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from hashshare.feedback.schemas import FeedbackCounts, YourFeedback
from hashshare.validation import StoredText


class HashSubmission(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signal_type: StrictStr = Field(description="A name from GET /v1/signal-types, e.g. `pdq`.")
    value: StrictStr = Field(
        description="The hash in hex; upper case is accepted. Degenerate values (digests of "
        "empty input, all-zero or all-one perceptual hashes, PDQ with fewer than 97 or more "
        "than 159 bits set) are refused as `degenerate_hash`."
    )
    labels: list[StrictStr] = Field(
        description="Labels from GET /v1/labels; at least one behaviour label."
    )
    external_ref: StoredText | None = Field(
        default=None,
        max_length=256,
        description="Your own reference for this hash; shown to you only. Left out on a "
        "resubmission, the stored one is kept; `null` clears it.",
    )
    quality: StrictInt | None = Field(
        default=None,
        description="PDQ quality 0-100; hashes below the minimum are refused. Left out on a "
        "resubmission, the stored quality is kept; `null` clears it.",
    )


class SubmitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hashes: list[HashSubmission] = Field(description="Up to 10,000 hashes, stored all or none.")


class SubmitResult(BaseModel):
    index: int = Field(description="Position of the item in the request.")
    status: Literal["created", "existing", "updated"] = Field(
        description="`created`: your contribution is new; `existing`: you had already "
        "contributed it unchanged; `updated`: your labels, reference or quality changed."
    )
    hash_id: int
    signal_type: str
    value: str


class SubmitResponse(BaseModel):
    results: list[SubmitResult]
    created: int
    existing: int
    updated: int


class OwnContribution(BaseModel):
    labels: list[str]
    external_ref: str | None
    quality: int | None
    contributed_at: datetime
    retracted_at: datetime | None


class ContributionRecord(OwnContribution):
    member_id: str


class HashOut(BaseModel):
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


class RetractResponse(BaseModel):
    id: int
    status: Literal["active", "disputed", "retracted"]
    contributors: int
    retracted_at: datetime = Field(description="When your contribution was retracted.")
