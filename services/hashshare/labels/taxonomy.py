"""A fixed, versioned label taxonomy modelled on GIFCT's.

Behaviour labels say what the content does; at least one is required. A designated entity
(`entity:<id>`) and a crisis incident (`incident:<id>`) are optional. Changing any list here
means a new `TAXONOMY_VERSION`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum

TAXONOMY_VERSION = "2026.1"


class LabelKind(StrEnum):
    BEHAVIOUR = "behaviour"
    ENTITY = "entity"
    INCIDENT = "incident"


@dataclass(frozen=True, slots=True)
class Label:
    name: str
    kind: LabelKind
    description: str


_BEHAVIOURS = {
    "imminent-credible-threat": "A credible threat of imminent violence.",
    "graphic-violence-against-defenceless-people": (
        "Graphic depiction of violence against defenceless people."
    ),
    "glorification-of-terrorist-acts": "Praise or glorification of terrorist acts.",
    "radicalisation-recruitment-instruction": (
        "Radicalisation, recruitment, or instruction for terrorist activity."
    ),
    "attacker-manifesto": "A manifesto published by the perpetrator of an attack.",
    "branded-terrorist-publication": "Official, branded propaganda of a terrorist group.",
}

# Entities on the UN Security Council consolidated sanctions list.
_ENTITIES = {
    "isil": "ISIL (Da'esh) and its affiliates.",
    "al-qaida": "Al-Qaida and its affiliates.",
    "al-shabaab": "Al-Shabaab.",
    "boko-haram": "Jama'atu Ahlis Sunna Lidda'awati wal-Jihad (Boko Haram).",
    "hayat-tahrir-al-sham": "Hay'at Tahrir al-Sham (al-Nusrah Front).",
    "jemaah-islamiyah": "Jemaah Islamiyah.",
}

# Crisis incidents for which a content incident protocol was declared.
_INCIDENTS = {
    "christchurch-2019": "Christchurch mosque attacks, New Zealand, March 2019.",
    "halle-2019": "Halle synagogue attack, Germany, October 2019.",
    "buffalo-2022": "Buffalo supermarket attack, United States, May 2022.",
}

LABELS: dict[str, Label] = {
    **{name: Label(name, LabelKind.BEHAVIOUR, text) for name, text in _BEHAVIOURS.items()},
    **{
        f"entity:{name}": Label(f"entity:{name}", LabelKind.ENTITY, text)
        for name, text in _ENTITIES.items()
    },
    **{
        f"incident:{name}": Label(f"incident:{name}", LabelKind.INCIDENT, text)
        for name, text in _INCIDENTS.items()
    },
}


class LabelError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def validate_labels(names: list[str]) -> list[str]:
    """Return the labels sorted and de-duplicated, or raise LabelError."""
    # A bulk submission repeats a few label sets thousands of times.
    return list(_validated(tuple(names)))


@functools.lru_cache(maxsize=1024)
def _validated(names: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [name for name in names if name not in LABELS]
    if unknown:
        shown = ", ".join(repr(name[:80]) for name in unknown[:5])
        raise LabelError("unknown_label", f"unknown labels: {shown}")
    labels = sorted(set(names))
    kinds = [LABELS[name].kind for name in labels]
    if LabelKind.BEHAVIOUR not in kinds:
        raise LabelError("missing_behaviour_label", "at least one behaviour label is required")
    if kinds.count(LabelKind.ENTITY) > 1 or kinds.count(LabelKind.INCIDENT) > 1:
        raise LabelError("too_many_labels", "at most one entity and one incident label")
    return tuple(labels)
