"""In-memory match indexes. Plain objects: no I/O, no knowledge of the database or HTTP.

Every index answers `search(value, max_distance)` with the ids of the stored hashes within
that distance, ordered by (distance, id). Hashes are fixed-width byte strings. The signal
type's distance kind chooses the implementation (`build_index`): Hamming types use
`mih.MultiIndexHammingIndex`, exact types `ExactIndex` here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from hashshare.matching.mih import MultiIndexHammingIndex
from hashshare.signals import DistanceKind, SignalType


class MatchIndex(Protocol):
    """What the match service needs from an index."""

    bits: int

    @property
    def kernel_name(self) -> str:
        """What does the searching (`compiled`, `numpy`, `dict`), for operators."""

    def add(self, hash_id: int, value: bytes) -> None:
        """Insert a hash, or replace the value stored under that id."""

    def remove(self, hash_id: int) -> bool:
        """Remove a hash; return whether it was present."""

    def search(self, value: bytes, max_distance: int) -> list[tuple[int, int]]:
        """Return `(hash_id, distance)` within `max_distance`, nearest first."""

    def __len__(self) -> int: ...

    def __contains__(self, hash_id: object) -> bool: ...


def _check_width(value: bytes, bits: int) -> None:
    if len(value) * 8 != bits:
        raise ValueError(f"expected a {bits}-bit value, got {len(value) * 8} bits")


@runtime_checkable
class Rebuildable(Protocol):
    """An index whose frozen part is rebuilt off the request path now and then."""

    def __len__(self) -> int: ...

    def needs_rebuild(self) -> bool: ...

    def rebuild_job(self) -> Any: ...

    def install(self, base: Any) -> None: ...

    def abandon_rebuild(self) -> None: ...


class ExactIndex:
    """Exact-equality lookup (cryptographic hashes) in a dict."""

    kernel_name = "dict"

    def __init__(self, bits: int) -> None:
        self.bits = bits
        self._ids_by_value: dict[bytes, set[int]] = {}
        self._value_of: dict[int, bytes] = {}

    @classmethod
    def build(cls, bits: int, ids: Sequence[int], values: bytes | bytearray) -> ExactIndex:
        """An index of `ids`, whose values are concatenated in `values`."""
        index = cls(bits)
        width = bits // 8
        for position, hash_id in enumerate(ids):
            index.add(hash_id, bytes(values[position * width : (position + 1) * width]))
        return index

    def add(self, hash_id: int, value: bytes) -> None:
        _check_width(value, self.bits)
        self.remove(hash_id)
        self._ids_by_value.setdefault(value, set()).add(hash_id)
        self._value_of[hash_id] = value

    def remove(self, hash_id: int) -> bool:
        value = self._value_of.pop(hash_id, None)
        if value is None:
            return False
        ids = self._ids_by_value[value]
        ids.discard(hash_id)
        if not ids:
            del self._ids_by_value[value]
        return True

    def search(self, value: bytes, max_distance: int) -> list[tuple[int, int]]:
        _check_width(value, self.bits)
        return [(hash_id, 0) for hash_id in sorted(self._ids_by_value.get(value, ()))]

    def __len__(self) -> int:
        return len(self._value_of)

    def __contains__(self, hash_id: object) -> bool:
        return hash_id in self._value_of


IndexBuilder = Callable[[int, Sequence[int], bytes | bytearray], MatchIndex]
BUILDERS: dict[DistanceKind, IndexBuilder] = {
    DistanceKind.HAMMING: MultiIndexHammingIndex.build,
    DistanceKind.EXACT: ExactIndex.build,
}


def build_index(
    signal_type: SignalType, ids: Sequence[int] = (), values: bytes | bytearray = b""
) -> MatchIndex:
    """The index that suits the signal type's distance, over `ids` and their concatenated
    `values` (empty by default)."""
    return BUILDERS[signal_type.distance_kind](signal_type.bits, ids, values)
