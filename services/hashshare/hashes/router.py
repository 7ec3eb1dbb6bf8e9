"""HTTP routes of hashes: parse, check scope, call the service. Nothing else.

Reading one hash (`GET /v1/hashes/{id}`) shows the feedback on it too, so that route lives
with feedback, which depends on hashes (not the other way round).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from fastapi.responses import StreamingResponse

from hashshare.auth.principal import Principal
from hashshare.auth.scopes import Scope
from hashshare.deps import Hashes, Snapshots, UoW, require_scope
from hashshare.errors import ERROR_RESPONSES, ErrorBody
from hashshare.hashes.schemas import RetractResponse, SubmitRequest, SubmitResponse
from hashshare.validation import MAX_CURSOR

router = APIRouter(prefix="/v1/hashes", tags=["hashes"], responses=ERROR_RESPONSES)
snapshot_router = APIRouter(prefix="/v1", tags=["changes"], responses=ERROR_RESPONSES)

NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorBody, "description": "No hash with that id."}
}
HashId = Annotated[int, Path(ge=1, le=MAX_CURSOR, description="Hash id.")]


@router.post("", response_model=SubmitResponse, summary="Contribute hashes (all or none)")
async def submit_hashes(
    body: SubmitRequest,
    principal: Annotated[Principal, require_scope(Scope.HASHES_SUBMIT)],
    hashes: Hashes,
    uow: UoW,
) -> Response:
    result = await hashes.submit(uow, principal, body.hashes)
    # Serialised once: FastAPI would validate and encode the 10,000 results of a batch again.
    return Response(result.model_dump_json(), media_type="application/json")


@router.delete(
    "/{hash_id}",
    response_model=RetractResponse,
    responses=NOT_FOUND,
    summary="Retract your contribution",
)
async def retract_hash(
    hash_id: HashId,
    principal: Annotated[Principal, require_scope(Scope.HASHES_SUBMIT)],
    hashes: Hashes,
    uow: UoW,
) -> RetractResponse:
    return await hashes.retract(uow, principal, hash_id)


@snapshot_router.get(
    "/snapshot",
    summary="The whole matchable set, as JSON lines, for a copy's first sync",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"application/x-ndjson": {}},
            "description": "A header line `{format, head_seq}`; per page and signal type a "
            "line `{signal_type, hash_ids, values (concatenated hex), statuses, label_sets, "
            "labels (indexes into label_sets), contributors}`; an end line `{end, hashes}`. "
            "Follow GET /v1/changes from `head_seq` afterwards.",
        }
    },
)
async def snapshot(
    principal: Annotated[Principal, require_scope(Scope.HASHES_READ)],
    snapshots: Snapshots,
) -> StreamingResponse:
    return StreamingResponse(snapshots.lines(principal), media_type="application/x-ndjson")
