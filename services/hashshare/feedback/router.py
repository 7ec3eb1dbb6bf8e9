"""HTTP routes of feedback and dispute resolution, and of reading a hash with its feedback."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hashshare.auth.principal import Principal
from hashshare.auth.scopes import Scope
from hashshare.deps import Feedback, UoW, require_scope
from hashshare.errors import ERROR_RESPONSES, ErrorBody
from hashshare.feedback.schemas import (
    DisputePage,
    FeedbackIn,
    FeedbackOut,
    HashOut,
    ResolutionIn,
    ResolutionOut,
)
from hashshare.hashes.router import NOT_FOUND, HashId
from hashshare.validation import parse_cursor

router = APIRouter(prefix="/v1/hashes", responses=ERROR_RESPONSES)
disputes_router = APIRouter(prefix="/v1/disputes", tags=["feedback"], responses=ERROR_RESPONSES)

RESPONSES: dict[int | str, dict[str, object]] = {
    **NOT_FOUND,
    409: {"model": ErrorBody, "description": "Not possible in the hash's current status."},
}


@router.get(
    "/{hash_id}",
    response_model=HashOut,
    responses=NOT_FOUND,
    tags=["hashes"],
    summary="Read one hash",
)
async def get_hash(
    hash_id: HashId,
    principal: Annotated[Principal, require_scope(Scope.HASHES_READ)],
    feedback: Feedback,
    uow: UoW,
) -> HashOut:
    return await feedback.hash_with_feedback(uow, principal, hash_id)


@router.post(
    "/{hash_id}/feedback",
    response_model=FeedbackOut,
    responses=RESPONSES,
    tags=["feedback"],
    summary="Agree or disagree with a listing",
)
async def give_feedback(
    hash_id: HashId,
    body: FeedbackIn,
    principal: Annotated[Principal, require_scope(Scope.HASHES_FEEDBACK)],
    feedback: Feedback,
    uow: UoW,
) -> FeedbackOut:
    return await feedback.give(uow, principal, hash_id, body)


@router.post(
    "/{hash_id}/resolution",
    response_model=ResolutionOut,
    responses=RESPONSES,
    tags=["feedback"],
    summary="Resolve a dispute (admin): reinstate or retract",
)
async def resolve_dispute(
    hash_id: HashId,
    body: ResolutionIn,
    principal: Annotated[Principal, require_scope(Scope.ADMIN)],
    feedback: Feedback,
    uow: UoW,
) -> ResolutionOut:
    return await feedback.resolve(uow, principal, hash_id, body)


@disputes_router.get(
    "", response_model=DisputePage, summary="Disputed hashes with their verdicts (admin)"
)
async def list_disputes(
    principal: Annotated[Principal, require_scope(Scope.ADMIN)],
    feedback: Feedback,
    uow: UoW,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DisputePage:
    after_id = None if cursor is None else parse_cursor(cursor)
    return await feedback.disputes(uow, after_id, limit)
