"""GET /v1/changes: the change feed for members who keep a local copy of the shared set."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from hashshare.auth.principal import Principal
from hashshare.auth.scopes import Scope
from hashshare.changes.schemas import ChangePage, HashHistory
from hashshare.deps import Changes, Feed, UoW, require_scope
from hashshare.errors import ERROR_RESPONSES, ErrorBody
from hashshare.validation import MAX_CURSOR, parse_cursor

router = APIRouter(prefix="/v1", tags=["changes"], responses=ERROR_RESPONSES)


@router.get("/changes", response_model=ChangePage, summary="Changes to the shared set, in order")
async def list_changes(
    principal: Annotated[Principal, require_scope(Scope.HASHES_READ)],
    feed: Feed,
    after: Annotated[
        str, Query(max_length=32, description="Cursor: `0` for the beginning, else next_cursor.")
    ] = "0",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=3600,
            description="Long-poll: when nothing follows the cursor, wait up to this many "
            "seconds (capped by HASHSHARE_FEED_MAX_WAIT_SECONDS) for a change before answering.",
        ),
    ] = 0,
) -> Response:
    page = await feed.read(principal, parse_cursor(after), limit, wait)
    return Response(page.json(), media_type="application/json")


@router.get(
    "/hashes/{hash_id}/history",
    response_model=HashHistory,
    responses={404: {"model": ErrorBody, "description": "No hash with that id."}},
    tags=["hashes"],
    summary="Every state one hash has had (from the change feed)",
)
async def hash_history(
    hash_id: Annotated[int, Path(ge=1, le=MAX_CURSOR, description="Hash id.")],
    principal: Annotated[Principal, require_scope(Scope.HASHES_READ)],
    changes: Changes,
    uow: UoW,
) -> HashHistory:
    return await changes.history(uow, hash_id)
