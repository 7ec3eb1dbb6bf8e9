from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from hashshare.validation import StoredText

MEMBER_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"


class MemberCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=MEMBER_ID_PATTERN, description="Stable tenant id, lower case.")
    name: StoredText = Field(
        min_length=1, max_length=200, description="Display name of the platform."
    )


class MemberOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    active: bool
    created_at: datetime


class MemberList(BaseModel):
    members: list[MemberOut]
