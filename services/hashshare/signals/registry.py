"""The registry of signal types.

A signal type is a small value object: it parses the text form into bytes (the only form
stored or indexed), formats bytes back to text, measures distance, and builds the in-memory
index that suits it. Routers never branch on a type's name, so new types (vPDQ, TMK+PDQF)
are one entry here.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from enum import StrEnum

_HEX = frozenset(string.hexdigits)


class DistanceKind(StrEnum):
    HAMMING = "hamming"
    EXACT = "exact"


class InvalidHash(ValueError):
    """The text is not a valid value of the signal type."""


class DegenerateHash(InvalidHash):
    """A well-formed value that carries no information about any real image or file."""


class UnknownSignalType(ValueError):
    """No signal type of that name is registered."""


@dataclass(frozen=True, slots=True)
class SignalType:
    name: str
    bits: int
    distance_kind: DistanceKind
    default_max_distance: int
    description: str
    # Values that say nothing about content: digests of empty input, hashes of blank images.
    degenerate_values: frozenset[bytes] = frozenset()
    # Perceptual hashes whose bit count is outside this range are not what the algorithm
    # produces for any image it would accept (see `PDQ_WEIGHTS`).
    weight_range: tuple[int, int] | None = None

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

    def check_informative(self, value: bytes) -> None:
        """Raise DegenerateHash for a value that would match content it was not taken from."""
        if value in self.degenerate_values:
            raise DegenerateHash(self._degenerate_reason(value))
        if self.weight_range is not None:
            weight = int.from_bytes(value, "big").bit_count()
            low, high = self.weight_range
            if not low <= weight <= high:
                raise DegenerateHash(
                    f"{self.name} value has {weight} of {self.bits} bits set; {self.name} "
                    f"hashes of real images have {low}-{high}: this one would match only "
                    "blank or near-uniform images"
                )

    def _degenerate_reason(self, value: bytes) -> str:
        if self.distance_kind is DistanceKind.EXACT:
            return (
                f"{value.hex()} is the {self.name} of empty input: it would match every empty file"
            )
        bit = "zero" if not any(value) else "one"
        return f"an all-{bit} {self.name} value is the hash of a blank image, not of content"

    def format(self, value: bytes) -> str:
        return value.hex()

    def distance(self, a: bytes, b: bytes) -> int:
        if self.distance_kind is DistanceKind.EXACT:
            return 0 if a == b else self.bits
        return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def _blank(bits: int) -> frozenset[bytes]:
    """All-zero and all-one values: what perceptual hashes give flat, featureless images."""
    return frozenset({bytes(bits // 8), b"\xff" * (bits // 8)})


# PDQ sets a bit where a DCT coefficient exceeds the median, so a hash of any image of
# usable quality has (about) half its bits set: 612 of 612 images of quality >= 50 on this
# project's machine had exactly 128. The Hamming distance of two values is at least the
# difference of their weights, so a value outside 128 +- 31 is farther than the default
# match distance from every real PDQ hash; it could only match blank and near-uniform images,
# whose hashes have few bits set.
PDQ_WEIGHTS = (97, 159)
EMPTY_MD5 = hashlib.md5(b"", usedforsecurity=False).digest()
EMPTY_SHA256 = hashlib.sha256(b"").digest()

REGISTRY: dict[str, SignalType] = {
    st.name: st
    for st in (
        # 64-bit defaults from benchmarks/robustness.py (README, "Robustness and the 64-bit
        # defaults"): the largest distances at which POST /v1/match/image, pHash and dHash
        # included, makes no more false matches per query than PDQ alone at 31 (phash 4 and
        # dhash 3 made three times as many, 6 and 5 six times). ahash collides even at 0 on
        # framed images (borders, captions, screenshots): exact matches only, to corroborate.
        SignalType(
            "pdq",
            256,
            DistanceKind.HAMMING,
            31,
            "PDQ perceptual hash (Meta)",
            _blank(256),
            PDQ_WEIGHTS,
        ),
        SignalType(
            "phash",
            64,
            DistanceKind.HAMMING,
            3,
            "DCT perceptual hash (imagehash)",
            _blank(64),
        ),
        SignalType(
            "dhash",
            64,
            DistanceKind.HAMMING,
            2,
            "Difference hash (imagehash)",
            _blank(64),
        ),
        SignalType("ahash", 64, DistanceKind.HAMMING, 0, "Average hash (imagehash)", _blank(64)),
        SignalType("whash", 64, DistanceKind.HAMMING, 1, "Wavelet hash (imagehash)", _blank(64)),
        SignalType(
            "md5",
            128,
            DistanceKind.EXACT,
            0,
            "MD5 of the file bytes",
            frozenset({EMPTY_MD5}),
        ),
        SignalType(
            "sha256",
            256,
            DistanceKind.EXACT,
            0,
            "SHA-256 of the file bytes",
            frozenset({EMPTY_SHA256}),
        ),
    )
}


def get_signal_type(name: str) -> SignalType:
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownSignalType(f"unknown signal type {name!r}") from None
