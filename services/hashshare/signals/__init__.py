"""Signal types: how each kind of hash is written, compared and indexed."""

from hashshare.signals.registry import (
    REGISTRY,
    DegenerateHash,
    InvalidHash,
    SignalType,
    UnknownSignalType,
    get_signal_type,
)

__all__ = [
    "REGISTRY",
    "DegenerateHash",
    "InvalidHash",
    "SignalType",
    "UnknownSignalType",
    "get_signal_type",
]
