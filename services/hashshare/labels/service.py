"""Reference data: the label taxonomy and the signal types with this service's ceilings."""

from __future__ import annotations

from hashshare.config import Settings
from hashshare.labels.schemas import LabelList, LabelOut, SignalTypeList, SignalTypeOut
from hashshare.labels.taxonomy import LABELS, TAXONOMY_VERSION
from hashshare.signals import REGISTRY


class ReferenceService:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def labels(self) -> LabelList:
        return LabelList(
            version=TAXONOMY_VERSION,
            labels=[
                LabelOut(name=item.name, kind=item.kind.value, description=item.description)
                for item in LABELS.values()
            ],
        )

    def signal_types(self) -> SignalTypeList:
        ceilings = self._settings.max_distance_ceilings
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
