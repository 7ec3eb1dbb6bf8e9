from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int = Field(
        validation_alias=AliasChoices("seq", "id"),
        description="Sequence number (1, 2, 3, ... without gaps); `seq` in exports too.",
    )
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


class PublishedCheckpoint(BaseModel):
    """A signed checkpoint as published: save it as a file for `hashshare audit verify
    --checkpoint`."""

    id: int = Field(description="Newer checkpoints have larger ids (the list's cursor).")
    trigger: str = Field(description="`schedule` (every CHECKPOINT_INTERVAL_MINUTES) or `request`.")
    version: str = Field(description="`hashshare-checkpoint/1`.")
    algorithm: str = Field(description="`Ed25519`.")
    seq: int = Field(description="The last event the checkpoint covers (0: none yet).")
    head_digest: str = Field(description="That event's digest (64 hex digits).")
    issued_at: str = Field(description="When it was signed, `YYYY-MM-DDTHH:MM:SS.ffffffZ`.")
    key_id: str = Field(description="First 16 hex digits of SHA-256 of the raw public key.")
    signature: str = Field(
        description="Base64 Ed25519 signature of "
        "`hashshare-checkpoint/1\\n<seq>\\n<head_digest>\\n<issued_at>\\n`."
    )


class CheckpointPage(BaseModel):
    checkpoints: list[PublishedCheckpoint] = Field(description="Newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page.")


class CheckpointOut(PublishedCheckpoint):
    public_key: str = Field(
        description="The signing key's public half (PEM), for convenience: auditors check "
        "checkpoints with the copy they obtained from the operator, not this one."
    )
