"""GET /v1/changes: the change feed for members who keep a local copy of the shared set."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hashshare.auth.scopes import Scope
from hashshare.changes.repository import ChangeRepository
from hashshare.changes.schemas import ChangeOut, ChangePage
from hashshare.deps import Principal, UoW, require_scope
from hashshare.errors import ERROR_RESPONSES, ValidationFailed
from hashshare.hashes.models import HashStatus

router = APIRouter(prefix="/v1", tags=["changes"], responses=ERROR_RESPONSES)

MAX_SEQ = 2**63 - 1


@router.get("/changes", response_model=ChangePage, summary="Changes to the shared set, in order")
async def list_changes(
    principal: Annotated[Principal, require_scope(Scope.HASHES_READ)],
    uow: UoW,
    after: Annotated[
        str, Query(max_length=32, description="Cursor: `0` for the beginning, else next_cursor.")
    ] = "0",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> ChangePage:
    if not after.isascii() or not after.isdigit() or int(after) > MAX_SEQ:
        raise ValidationFailed("cursor is not one this service issued", code="invalid_cursor")
    changes = await ChangeRepository(uow.session).after(int(after), limit + 1)
    page = changes[:limit]
    return ChangePage(
        changes=[
            ChangeOut(
                seq=change.seq,
                kind="tombstone" if change.status == HashStatus.RETRACTED.value else "upsert",
                hash_id=change.hash_id,
                signal_type=change.signal_type,
                value=change.value.hex(),
                status=change.status,
                labels=change.labels,
                contributors=change.contributors,
                changed_at=change.changed_at,
            )
            for change in page
        ],
        next_cursor=str(page[-1].seq) if page else str(int(after)),
        has_more=len(changes) > limit,
    )
