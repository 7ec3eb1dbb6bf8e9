"""HTTP routes of feedback and dispute resolution."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from hashshare.auth.scopes import Scope
from hashshare.deps import Principal, RuntimeDep, UoW, require_scope
from hashshare.errors import ERROR_RESPONSES, ErrorBody
from hashshare.feedback import service
from hashshare.feedback.schemas import FeedbackIn, FeedbackOut, ResolutionIn, ResolutionOut

router = APIRouter(prefix="/v1/hashes", tags=["feedback"], responses=ERROR_RESPONSES)

HashId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Hash id.")]
RESPONSES: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorBody, "description": "No hash with that id."},
    409: {"model": ErrorBody, "description": "Not possible in the hash's current status."},
}


@router.post(
    "/{hash_id}/feedback",
    response_model=FeedbackOut,
    responses=RESPONSES,
    summary="Agree or disagree with a listing",
)
async def give_feedback(
    hash_id: HashId,
    body: FeedbackIn,
    principal: Annotated[Principal, require_scope(Scope.HASHES_FEEDBACK)],
    runtime: RuntimeDep,
    uow: UoW,
) -> FeedbackOut:
    return await service.give_feedback(uow, runtime.settings, principal, hash_id, body)


@router.post(
    "/{hash_id}/resolution",
    response_model=ResolutionOut,
    responses=RESPONSES,
    summary="Resolve a dispute (admin): reinstate or retract",
)
async def resolve_dispute(
    hash_id: HashId,
    body: ResolutionIn,
    principal: Annotated[Principal, require_scope(Scope.ADMIN)],
    runtime: RuntimeDep,
    uow: UoW,
) -> ResolutionOut:
    return await service.resolve(uow, runtime.indexes, principal, hash_id, body)
