from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="Sequence number; increases with every event.")
    occurred_at: datetime
    actor: str | None = Field(description="Token subject (`sub`), or null if unauthenticated.")
    member_id: str | None
    action: str
    outcome: str
    request_id: str | None
    target_ids: list[int]
    details: dict[str, Any]
    digest: str = Field(description="SHA-256 chaining this event to the one before it.")


class AuditPage(BaseModel):
    events: list[AuditEventOut] = Field(description="Newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page.")


class ChainVerdict(BaseModel):
    ok: bool = Field(description="The whole chain recomputes and ends at the recorded head.")
    events: int = Field(description="Events verified before stopping.")
    head_seq: int = Field(description="Last event verified.")
    head_digest: str = Field(description="Its digest (publish it to pin the log).")
    broken_seq: int | None = Field(description="First event whose link is broken.")
    reason: str | None = Field(description="Why that link is broken.")
