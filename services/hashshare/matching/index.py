"""In-memory match indexes. Plain objects: no I/O, no knowledge of the database or HTTP.

Every index answers `search(value, max_distance)` with the ids of the stored hashes within
that distance, ordered by (distance, id). Hashes are fixed-width byte strings. Hamming types
use `mih.MultiIndexHammingIndex`; exact types use `ExactIndex` here.
"""

from __future__ import annotations

from typing import Protocol


class MatchIndex(Protocol):
    """What the match service needs from an index."""

    bits: int

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


class ExactIndex:
    """Exact-equality lookup (cryptographic hashes) in a dict."""

    def __init__(self, bits: int) -> None:
        self.bits = bits
        self._ids_by_value: dict[bytes, set[int]] = {}
        self._value_of: dict[int, bytes] = {}

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
