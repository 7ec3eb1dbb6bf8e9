"""GET /v1/stats: transparency statistics (scope audit:read, or public if configured)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from hashshare.auth.principal import Principal
from hashshare.auth.scopes import Scope
from hashshare.deps import ReadUoW, Statistics, TimeRange, require_scope_unless_public
from hashshare.errors import ERROR_RESPONSES
from hashshare.stats.schemas import Stats

router = APIRouter(prefix="/v1", tags=["transparency"], responses=ERROR_RESPONSES)


@router.get("/stats", response_model=Stats, summary="Transparency statistics")
async def get_stats(
    principal: Annotated[Principal | None, require_scope_unless_public(Scope.AUDIT_READ)],
    stats: Statistics,
    uow: ReadUoW,
    period: TimeRange,
) -> Stats:
    return await stats.compute(uow, period.since, period.until)
