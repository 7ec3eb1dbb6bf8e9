"""API models of the reference data: labels and signal types."""

from __future__ import annotations

from pydantic import BaseModel


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
