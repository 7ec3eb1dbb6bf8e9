"""GET /v1/stats: transparency statistics (scope audit:read, or public if configured)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from hashshare.auth.scopes import Scope
from hashshare.deps import Principal, UoW, require_scope_unless_public
from hashshare.errors import ERROR_RESPONSES, ValidationFailed
from hashshare.stats import service
from hashshare.stats.schemas import Stats

router = APIRouter(prefix="/v1", tags=["transparency"], responses=ERROR_RESPONSES)


@router.get("/stats", response_model=Stats, summary="Transparency statistics")
async def get_stats(
    principal: Annotated[Principal | None, require_scope_unless_public(Scope.AUDIT_READ)],
    uow: UoW,
    since: Annotated[datetime | None, Query(description="Activity from (ISO 8601).")] = None,
    until: Annotated[datetime | None, Query(description="Activity before (ISO 8601).")] = None,
) -> Stats:
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.tzinfo is None:
            raise ValidationFailed(f"{name} needs a time zone, e.g. Z", code="naive_datetime")
    return await service.compute(uow.session, since, until)
