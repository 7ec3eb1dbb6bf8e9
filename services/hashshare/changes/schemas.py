"""API models of the change feed."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class ChangeOut(BaseModel):
    seq: int = Field(description="Sequence number; strictly increasing in commit order.")
    kind: Literal["upsert", "tombstone"] = Field(
        description="`tombstone`: the hash is retracted; drop it from a local copy."
    )
    hash_id: int
    signal_type: str
    value: str
    status: Literal["active", "disputed", "retracted"]
    labels: list[str]
    contributors: int
    changed_at: datetime


class ChangePage(BaseModel):
    changes: list[ChangeOut] = Field(description="In sequence order.")
    next_cursor: str = Field(description="Pass as `after` to continue from here.")
    has_more: bool = Field(description="More changes follow right now.")
    head_seq: int = Field(description="The feed's highest sequence number when it was read.")
