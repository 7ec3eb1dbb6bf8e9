"""GET /v1/contributions: the caller's member's own contributions, with its references."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hashshare.auth.principal import Principal
from hashshare.auth.scopes import Scope
from hashshare.contributions.schemas import ContributionPage
from hashshare.deps import Contributions, UoW, require_scope
from hashshare.errors import ERROR_RESPONSES
from hashshare.validation import parse_cursor

router = APIRouter(prefix="/v1", tags=["hashes"], responses=ERROR_RESPONSES)


@router.get(
    "/contributions", response_model=ContributionPage, summary="Your own contributions, in order"
)
async def list_contributions(
    principal: Annotated[Principal, require_scope(Scope.HASHES_READ)],
    contributions: Contributions,
    uow: UoW,
    after: Annotated[
        str, Query(max_length=32, description="Cursor: `0` for the beginning, else next_cursor.")
    ] = "0",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    include_retracted: Annotated[
        bool, Query(description="Also list contributions you retracted.")
    ] = False,
) -> ContributionPage:
    return await contributions.page(uow, principal, parse_cursor(after), limit, include_retracted)
