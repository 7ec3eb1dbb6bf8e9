"""API models of submission, lookup and retraction."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

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


class RetractResponse(BaseModel):
    id: int
    status: Literal["active", "disputed", "retracted"]
    contributors: int
    retracted_at: datetime = Field(description="When your contribution was retracted.")
