"""HTTP routes of the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from hashshare.audit.actions import ACTIONS
from hashshare.audit.schemas import (
    AuditPage,
    ChainVerdict,
    CheckpointOut,
    CheckpointPage,
    PublishedCheckpoint,
)
from hashshare.auth.principal import Principal
from hashshare.auth.scopes import Scope
from hashshare.deps import AuditLog, ReadUoW, TimeRange, UoW, require_scope
from hashshare.errors import ERROR_RESPONSES, ErrorBody, ValidationFailed
from hashshare.validation import parse_cursor, storable

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=ERROR_RESPONSES)


def _storable(name: str, text: str | None) -> str | None:
    try:
        return None if text is None else storable(text)
    except ValueError as exc:
        raise ValidationFailed(f"{name} {exc}", code="invalid_text") from None


def _known_action(action: str | None) -> str | None:
    if action is None or action in ACTIONS:
        return action
    raise ValidationFailed(
        "unknown audit action",
        code="unknown_action",
        details={"actions": sorted(ACTIONS)},
    )


@router.get("", response_model=AuditPage, summary="Read the audit log, newest first")
async def list_audit_events(
    principal: Annotated[Principal, require_scope(Scope.AUDIT_READ)],
    audit_log: AuditLog,
    uow: ReadUoW,
    period: TimeRange,
    member: Annotated[str | None, Query(max_length=64, description="Only this member.")] = None,
    action: Annotated[
        str | None,
        Query(max_length=64, description="One of the actions the log records, e.g. `match`."),
    ] = None,
    outcome: Annotated[
        str | None, Query(max_length=32, description="`ok`, `rejected` or `denied`.")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    return await audit_log.page(
        uow,
        member_id=_storable("member", member),
        action=_known_action(action),
        outcome=_storable("outcome", outcome),
        since=period.since,
        until=period.until,
        before_id=None if cursor is None else parse_cursor(cursor),
        limit=limit,
    )


@router.get("/verify", response_model=ChainVerdict, summary="Recompute the audit chain")
async def verify_audit_chain(
    principal: Annotated[Principal, require_scope(Scope.AUDIT_READ)],
    audit_log: AuditLog,
    uow: ReadUoW,
) -> ChainVerdict:
    return await audit_log.verify(uow)


@router.get(
    "/checkpoint",
    response_model=CheckpointOut,
    responses={404: {"model": ErrorBody, "description": "Checkpoints are not configured."}},
    summary="Sign the audit chain's head now and publish it (recorded in the log)",
)
async def audit_checkpoint(
    principal: Annotated[Principal, require_scope(Scope.AUDIT_READ)],
    audit_log: AuditLog,
    uow: UoW,
) -> CheckpointOut:
    return await audit_log.checkpoint(uow, principal.actor)


@router.get(
    "/checkpoints",
    response_model=CheckpointPage,
    summary="Published checkpoints (scheduled and requested), newest first",
)
async def list_checkpoints(
    principal: Annotated[Principal, require_scope(Scope.AUDIT_READ)],
    audit_log: AuditLog,
    uow: UoW,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> CheckpointPage:
    return await audit_log.checkpoints(
        uow, before_id=None if cursor is None else parse_cursor(cursor), limit=limit
    )


@router.get(
    "/checkpoints/latest",
    response_model=PublishedCheckpoint,
    responses={
        404: {
            "model": ErrorBody,
            "description": "`no_checkpoint`: none published yet; "
            "`checkpoints_not_configured`: no checkpoint key.",
        }
    },
    summary="The newest published checkpoint",
)
async def latest_checkpoint(
    principal: Annotated[Principal, require_scope(Scope.AUDIT_READ)],
    audit_log: AuditLog,
    uow: UoW,
) -> PublishedCheckpoint:
    return await audit_log.latest_checkpoint(uow)


@router.get(
    "/export",
    response_class=StreamingResponse,
    summary="The whole audit log as JSON Lines, oldest first",
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
async def export_audit_log(
    principal: Annotated[Principal, require_scope(Scope.AUDIT_READ)], audit_log: AuditLog
) -> StreamingResponse:
    return StreamingResponse(audit_log.export(), media_type="application/x-ndjson")
