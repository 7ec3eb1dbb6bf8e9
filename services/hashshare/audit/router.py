"""HTTP route of the audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from hashshare.audit.repository import AuditRepository
from hashshare.audit.schemas import AuditEventOut, AuditPage, ChainVerdict
from hashshare.audit.service import export_lines, verify_log
from hashshare.auth.scopes import Scope
from hashshare.deps import Principal, RuntimeDep, UoW, require_scope
from hashshare.errors import ERROR_RESPONSES, ValidationFailed
from hashshare.validation import storable

MAX_ID = 2**63 - 1

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=ERROR_RESPONSES)


def _parse_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isascii() or not cursor.isdigit() or int(cursor) > MAX_ID:
        raise ValidationFailed("cursor is not one this service issued", code="invalid_cursor")
    return int(cursor)


@router.get("", response_model=AuditPage, summary="Read the audit log, newest first")
async def list_audit_events(
    principal: Annotated[Principal, require_scope(Scope.AUDIT_READ)],
    uow: UoW,
    member: Annotated[str | None, Query(max_length=64, description="Only this member.")] = None,
    action: Annotated[str | None, Query(max_length=64, description="e.g. `match`.")] = None,
    since: Annotated[datetime | None, Query(description="Inclusive, ISO 8601.")] = None,
    until: Annotated[datetime | None, Query(description="Exclusive, ISO 8601.")] = None,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    for name, text in (("member", member), ("action", action)):
        try:
            if text is not None:
                storable(text)
        except ValueError as exc:
            raise ValidationFailed(f"{name} {exc}", code="invalid_text") from None
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.tzinfo is None:
            raise ValidationFailed(f"{name} needs a time zone, e.g. Z", code="naive_datetime")
    events = await AuditRepository(uow.session).list_events(
        member_id=member,
        action=action,
        since=since,
        until=until,
        before_id=_parse_cursor(cursor),
        limit=limit,
    )
    next_cursor = str(events[-1].id) if len(events) == limit else None
    return AuditPage(
        events=[AuditEventOut.model_validate(event) for event in events], next_cursor=next_cursor
    )


@router.get("/verify", response_model=ChainVerdict, summary="Recompute the audit chain")
async def verify_audit_chain(
    principal: Annotated[Principal, require_scope(Scope.AUDIT_READ)], uow: UoW
) -> ChainVerdict:
    verdict = await verify_log(uow.session)
    return ChainVerdict(**verdict.as_dict())


@router.get(
    "/export",
    response_class=StreamingResponse,
    summary="The whole audit log as JSON Lines, oldest first",
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
async def export_audit_log(
    principal: Annotated[Principal, require_scope(Scope.AUDIT_READ)], runtime: RuntimeDep
) -> StreamingResponse:
    async def lines() -> AsyncIterator[str]:
        # Its own session: the response streams after the request's unit of work has ended.
        async with runtime.session_factory() as session:
            async for line in export_lines(session):
                yield line

    return StreamingResponse(lines(), media_type="application/x-ndjson")
