"""HTTP route of matching: the hot path, so it takes as few dependencies as it can (each costs
FastAPI time per request) and returns its answer serialised once (`MatchResponse.json`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response

from hashshare.auth.principal import Principal
from hashshare.auth.scopes import Scope
from hashshare.deps import Matches, require_scope
from hashshare.errors import ERROR_RESPONSES
from hashshare.matching.schemas import MatchRequest, MatchResponse

router = APIRouter(prefix="/v1", tags=["matching"], responses=ERROR_RESPONSES)


@router.post("/match", response_model=MatchResponse, summary="Match hashes against the shared set")
async def match(
    body: MatchRequest,
    principal: Annotated[Principal, require_scope(Scope.HASHES_MATCH)],
    matches: Matches,
) -> Response:
    outcome = await matches.match(principal, body.queries, body.include_disputed)
    return Response(outcome.json(), media_type="application/json")
