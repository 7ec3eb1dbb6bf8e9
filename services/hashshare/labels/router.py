"""Reference data: the label taxonomy and the signal types (any valid token may read them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel

from hashshare.auth.scopes import Scope
from hashshare.deps import Principal, RuntimeDep, require_scope
from hashshare.errors import ERROR_RESPONSES
from hashshare.labels.taxonomy import LABELS, TAXONOMY_VERSION
from hashshare.signals import REGISTRY

router = APIRouter(prefix="/v1", tags=["reference"], responses=ERROR_RESPONSES)

AnyScope = Annotated[Principal, require_scope(*Scope)]


class LabelOut(BaseModel):
    name: str
    kind: str
    description: str


class LabelList(BaseModel):
    version: str
    labels: list[LabelOut]


class SignalTypeOut(BaseModel):
    name: str
    bits: int
    distance: str
    default_max_distance: int
    max_distance_ceiling: int
    description: str


class SignalTypeList(BaseModel):
    signal_types: list[SignalTypeOut]


@router.get("/labels", response_model=LabelList, summary="The label taxonomy")
async def list_labels(principal: AnyScope) -> LabelList:
    return LabelList(
        version=TAXONOMY_VERSION,
        labels=[
            LabelOut(name=item.name, kind=item.kind.value, description=item.description)
            for item in LABELS.values()
        ],
    )


@router.get("/signal-types", response_model=SignalTypeList, summary="The signal types")
async def list_signal_types(principal: AnyScope, runtime: RuntimeDep) -> SignalTypeList:
    ceilings = runtime.settings.max_distance_ceilings
    return SignalTypeList(
        signal_types=[
            SignalTypeOut(
                name=st.name,
                bits=st.bits,
                distance=st.distance_kind.value,
                default_max_distance=st.default_max_distance,
                max_distance_ceiling=ceilings.get(st.name, 0),
                description=st.description,
            )
            for st in REGISTRY.values()
        ]
    )
