"""HTTP routes of hashes: parse, check scope, call the service. Nothing else."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from hashshare.auth.scopes import Scope
from hashshare.deps import Principal, RuntimeDep, UoW, require_scope
from hashshare.errors import ERROR_RESPONSES, ErrorBody
from hashshare.hashes import service
from hashshare.hashes.schemas import HashOut, RetractResponse, SubmitRequest, SubmitResponse

router = APIRouter(prefix="/v1/hashes", tags=["hashes"], responses=ERROR_RESPONSES)

NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorBody, "description": "No hash with that id."}
}
HashId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Hash id.")]


@router.post("", response_model=SubmitResponse, summary="Contribute hashes (all or none)")
async def submit_hashes(
    body: SubmitRequest,
    principal: Annotated[Principal, require_scope(Scope.HASHES_SUBMIT)],
    runtime: RuntimeDep,
    uow: UoW,
) -> Response:
    result = await service.submit(uow, runtime.settings, runtime.indexes, principal, body.hashes)
    # Serialised once: FastAPI would validate and encode the 10,000 results of a batch again.
    return Response(result.model_dump_json(), media_type="application/json")


@router.get("/{hash_id}", response_model=HashOut, responses=NOT_FOUND, summary="Read one hash")
async def get_hash(
    hash_id: HashId,
    principal: Annotated[Principal, require_scope(Scope.HASHES_READ)],
    uow: UoW,
) -> HashOut:
    return await service.get_hash(uow, principal, hash_id)


@router.delete(
    "/{hash_id}",
    response_model=RetractResponse,
    responses=NOT_FOUND,
    summary="Retract your contribution",
)
async def retract_hash(
    hash_id: HashId,
    principal: Annotated[Principal, require_scope(Scope.HASHES_SUBMIT)],
    runtime: RuntimeDep,
    uow: UoW,
) -> RetractResponse:
    return await service.retract(uow, runtime.indexes, principal, hash_id)
