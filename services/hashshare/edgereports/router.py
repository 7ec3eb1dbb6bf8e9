"""POST /v1/edge-reports: an edge's completed hours of match counts (scope matches:report)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from hashshare.auth.principal import Principal
from hashshare.auth.scopes import Scope
from hashshare.deps import EdgeReports, UoW, require_scope
from hashshare.edgereports.schemas import EdgeReportIn, EdgeReportOut
from hashshare.errors import ERROR_RESPONSES, ErrorBody

router = APIRouter(prefix="/v1", tags=["transparency"], responses=ERROR_RESPONSES)


@router.post(
    "/edge-reports",
    response_model=EdgeReportOut,
    responses={
        409: {
            "model": ErrorBody,
            "description": "`edge_report_conflict`: an hour was recorded before with other "
            "counts (details: the hours); nothing of the report was recorded.",
        }
    },
    summary="Report an edge's local match counts per hour and label (no hashes)",
)
async def report_edge_counts(
    body: EdgeReportIn,
    principal: Annotated[Principal, require_scope(Scope.MATCHES_REPORT)],
    reports: EdgeReports,
    uow: UoW,
) -> EdgeReportOut:
    return await reports.report(uow, principal, body)
