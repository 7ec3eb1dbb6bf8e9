"""Signal types: how each kind of hash is written and compared."""

from hashshare.signals.registry import (
    REGISTRY,
    DegenerateHash,
    DistanceKind,
    InvalidHash,
    SignalType,
    UnknownSignalType,
    get_signal_type,
)

__all__ = [
    "REGISTRY",
    "DegenerateHash",
    "DistanceKind",
    "InvalidHash",
    "SignalType",
    "UnknownSignalType",
    "get_signal_type",
]
