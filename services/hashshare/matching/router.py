"""HTTP route of matching: the hot path, so it takes as few dependencies as it can (each costs
FastAPI time per request) and returns its answer serialised once (`MatchOutcome.json`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response

from hashshare.auth.scopes import Scope
from hashshare.deps import Principal, require_scope
from hashshare.errors import ERROR_RESPONSES
from hashshare.matching import service
from hashshare.matching.schemas import MatchRequest, MatchResponse
from hashshare.runtime import Runtime

router = APIRouter(prefix="/v1", tags=["matching"], responses=ERROR_RESPONSES)


@router.post("/match", response_model=MatchResponse, summary="Match hashes against the shared set")
async def match(
    body: MatchRequest,
    request: Request,
    principal: Annotated[Principal, require_scope(Scope.HASHES_MATCH)],
) -> Response:
    runtime: Runtime = request.app.state.runtime
    outcome = await service.match(
        runtime.session_factory,
        runtime.settings,
        runtime.indexes,
        principal,
        body.queries,
        body.include_disputed,
        runtime.audit,
    )
    return Response(outcome.json(), media_type="application/json")
