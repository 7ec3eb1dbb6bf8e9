"""In-memory match indexes. Plain objects: no I/O, no knowledge of the database or HTTP.

Every index answers `search(value, max_distance)` with the ids of the stored hashes within
that distance, ordered by (distance, id). Hashes are fixed-width byte strings.

`HammingIndex` is an exact linear scan over a packed `uint64` matrix: correct for any
distance, and the reference that faster indexes are tested against.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt


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


class HammingIndex:
    """Exact Hamming-distance search by a vectorised linear scan."""

    _INITIAL_CAPACITY = 1024

    def __init__(self, bits: int) -> None:
        if bits % 64:
            raise ValueError("HammingIndex needs a multiple of 64 bits")
        self.bits = bits
        self._words = bits // 64
        self._vectors: npt.NDArray[np.uint64] = np.zeros(
            (self._INITIAL_CAPACITY, self._words), dtype=np.uint64
        )
        self._ids: npt.NDArray[np.int64] = np.zeros(self._INITIAL_CAPACITY, dtype=np.int64)
        self._row_of: dict[int, int] = {}
        self._size = 0

    def _pack(self, value: bytes) -> npt.NDArray[np.uint64]:
        _check_width(value, self.bits)
        return np.frombuffer(value, dtype=">u8").astype(np.uint64)

    def _grow(self) -> None:
        capacity = self._vectors.shape[0] * 2
        vectors = np.zeros((capacity, self._words), dtype=np.uint64)
        vectors[: self._size] = self._vectors[: self._size]
        ids = np.zeros(capacity, dtype=np.int64)
        ids[: self._size] = self._ids[: self._size]
        self._vectors, self._ids = vectors, ids

    def add(self, hash_id: int, value: bytes) -> None:
        packed = self._pack(value)
        row = self._row_of.get(hash_id)
        if row is None:
            if self._size == self._vectors.shape[0]:
                self._grow()
            row = self._size
            self._size += 1
            self._row_of[hash_id] = row
            self._ids[row] = hash_id
        self._vectors[row] = packed

    def remove(self, hash_id: int) -> bool:
        row = self._row_of.pop(hash_id, None)
        if row is None:
            return False
        last = self._size - 1
        if row != last:
            moved_id = int(self._ids[last])
            self._vectors[row] = self._vectors[last]
            self._ids[row] = moved_id
            self._row_of[moved_id] = row
        self._size = last
        return True

    def search(self, value: bytes, max_distance: int) -> list[tuple[int, int]]:
        query = self._pack(value)
        if self._size == 0 or max_distance < 0:
            return []
        xor = np.bitwise_xor(self._vectors[: self._size], query)
        distances = np.bitwise_count(xor).sum(axis=1, dtype=np.int64)
        rows = np.flatnonzero(distances <= max_distance)
        hits = sorted(zip(distances[rows].tolist(), self._ids[rows].tolist(), strict=True))
        return [(hash_id, distance) for distance, hash_id in hits]

    def __len__(self) -> int:
        return self._size

    def __contains__(self, hash_id: object) -> bool:
        return hash_id in self._row_of


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
