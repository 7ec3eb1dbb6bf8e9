"""API models of a member's own contributions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class ContributionOut(BaseModel):
    contribution_id: int = Field(description="Cursor position of this contribution.")
    hash_id: int
    signal_type: str
    value: str
    labels: list[str] = Field(description="Your labels (the hash's are the union of all).")
    external_ref: str | None
    quality: int | None
    hash_status: Literal["active", "disputed", "retracted"]
    contributed_at: datetime
    retracted_at: datetime | None = Field(description="When you retracted it, if you did.")


class ContributionPage(BaseModel):
    contributions: list[ContributionOut] = Field(description="Oldest first.")
    next_cursor: str = Field(description="Pass as `after` to continue from here.")
    has_more: bool
