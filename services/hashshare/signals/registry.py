"""The registry of signal types.

A signal type is a small value object: it parses the text form into bytes (the only form
stored or indexed), formats bytes back to text, measures distance, and builds the in-memory
index that suits it. Routers never branch on a type's name, so new types (vPDQ, TMK+PDQF)
are one entry here.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from hashshare.matching.index import ExactIndex, MatchIndex
from hashshare.matching.mih import MultiIndexHammingIndex

_HEX = frozenset(string.hexdigits)


class DistanceKind(StrEnum):
    HAMMING = "hamming"
    EXACT = "exact"


class InvalidHash(ValueError):
    """The text is not a valid value of the signal type."""


class UnknownSignalType(ValueError):
    """No signal type of that name is registered."""


@dataclass(frozen=True, slots=True)
class SignalType:
    name: str
    bits: int
    distance_kind: DistanceKind
    default_max_distance: int
    description: str
    index_factory: Callable[[int], MatchIndex]

    @property
    def hex_length(self) -> int:
        return self.bits // 4

    def parse(self, text: str) -> bytes:
        """Parse the hex text form (either case) into bytes; raise InvalidHash otherwise."""
        if not isinstance(text, str):
            raise InvalidHash("hash value must be a string")
        if len(text) != self.hex_length:
            raise InvalidHash(
                f"{self.name} hash must be {self.hex_length} hex digits, got {len(text)}"
            )
        if not _HEX.issuperset(text):
            raise InvalidHash(f"{self.name} hash must contain only hex digits 0-9a-f")
        return bytes.fromhex(text)

    def format(self, value: bytes) -> str:
        return value.hex()

    def distance(self, a: bytes, b: bytes) -> int:
        if self.distance_kind is DistanceKind.EXACT:
            return 0 if a == b else self.bits
        return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()

    def new_index(self) -> MatchIndex:
        return self.index_factory(self.bits)


def _hamming(bits: int) -> MatchIndex:
    return MultiIndexHammingIndex(bits)


def _exact(bits: int) -> MatchIndex:
    return ExactIndex(bits)


REGISTRY: dict[str, SignalType] = {
    st.name: st
    for st in (
        # 64-bit defaults from benchmarks/robustness.py: the largest distance at which no two
        # different photos (or their re-uploads) matched and uniformly random hashes would give
        # < 1e-5 false matches per query at 1 M hashes. ahash collides even at 0 on framed
        # images (borders, captions, screenshots): exact matches only, to corroborate.
        SignalType("pdq", 256, DistanceKind.HAMMING, 31, "PDQ perceptual hash (Meta)", _hamming),
        SignalType(
            "phash", 64, DistanceKind.HAMMING, 6, "DCT perceptual hash (imagehash)", _hamming
        ),
        SignalType("dhash", 64, DistanceKind.HAMMING, 5, "Difference hash (imagehash)", _hamming),
        SignalType("ahash", 64, DistanceKind.HAMMING, 0, "Average hash (imagehash)", _hamming),
        SignalType("whash", 64, DistanceKind.HAMMING, 1, "Wavelet hash (imagehash)", _hamming),
        SignalType("md5", 128, DistanceKind.EXACT, 0, "MD5 of the file bytes", _exact),
        SignalType("sha256", 256, DistanceKind.EXACT, 0, "SHA-256 of the file bytes", _exact),
    )
}


def get_signal_type(name: str) -> SignalType:
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownSignalType(f"unknown signal type {name!r}") from None
