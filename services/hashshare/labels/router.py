"""Reference data: the label taxonomy and the signal types (any valid token may read them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from hashshare.auth.principal import Principal
from hashshare.auth.scopes import Scope
from hashshare.deps import Reference, require_scope
from hashshare.errors import ERROR_RESPONSES
from hashshare.labels.schemas import LabelList, SignalTypeList

router = APIRouter(prefix="/v1", tags=["reference"], responses=ERROR_RESPONSES)

AnyScope = Annotated[Principal, require_scope(*Scope)]


@router.get("/labels", response_model=LabelList, summary="The label taxonomy")
async def list_labels(principal: AnyScope, reference: Reference) -> LabelList:
    return reference.labels()


@router.get("/signal-types", response_model=SignalTypeList, summary="The signal types")
async def list_signal_types(principal: AnyScope, reference: Reference) -> SignalTypeList:
    return reference.signal_types()
