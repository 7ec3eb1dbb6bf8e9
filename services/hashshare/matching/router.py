"""HTTP route of matching."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from hashshare.auth.scopes import Scope
from hashshare.deps import Principal, RuntimeDep, UoW, require_scope
from hashshare.errors import ERROR_RESPONSES
from hashshare.matching import service
from hashshare.matching.schemas import MatchRequest, MatchResponse

router = APIRouter(prefix="/v1", tags=["matching"], responses=ERROR_RESPONSES)


@router.post("/match", response_model=MatchResponse, summary="Match hashes against the shared set")
async def match(
    body: MatchRequest,
    principal: Annotated[Principal, require_scope(Scope.HASHES_MATCH)],
    runtime: RuntimeDep,
    uow: UoW,
) -> MatchResponse:
    return await service.match(
        uow,
        runtime.settings,
        runtime.indexes,
        principal,
        body.queries,
        body.include_disputed,
        runtime.audit,
    )
