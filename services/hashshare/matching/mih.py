"""Multi-index hashing: exact Hamming-radius search that stays fast at tens of millions.

Pigeonhole: split the bits into m disjoint chunks. If two hashes differ in at most d bits,
then for radii tau_i with sum(tau_i + 1) = d + 1, at least one chunk i differs in at most
tau_i bits. So the search looks up, for every chunk, the buckets of all keys within tau_i
bits of the query's chunk, and verifies each candidate against the full hash. Every hash
within d is found (recall is exact, not approximate); nothing beyond d is returned.

The chunk width follows the size of the set: about log2(n) bits, so a bucket holds about one
hash, while the bucket offset tables stay within 12 bytes per hash (or 128 MiB) and the
chunks cover at least three quarters of the bits (2 x 22 of 64 would leave wide radii). A search
is bound by memory loads: a probe of an empty bucket costs one load, a candidate two (its row,
then its hash), so wide chunks and few candidates win (at 1 M hashes, 20-bit chunks search
about 1.4 times as fast as 18-bit ones). Chunks need not cover every bit: ignoring the
remainder only makes the pigeonhole bound looser, never wrong.

Layout: two frozen *bases*, a main one and a recent one (hashes sorted by id; per chunk a
counting-sorted row list and a bucket offset table), a small *delta* of recent additions
searched by linear scan, and a *dead* mask per base for removals. When the delta grows, the
holder rebuilds off the request path (`rebuild_job()` then `install()`), replaying what
changed meanwhile: the delta goes into the recent base, and the recent base into the main
one once it holds a sixteenth as many (see `RebuildJob`).

Memory at 10 M PDQ hashes (21-bit chunks, 12 of them): 32 B raw + 4 B id (8 once ids pass
2^32) + 12 x 4 B rows + 12 x 8 MiB offset tables + 1 B dead mask = 95 B per hash.

Two kernels implement the inner loops: the compiled one (`_kernel.pyx`) and a numpy one that
is the tested reference and the fallback when the extension is not built.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
U32 = npt.NDArray[np.uint32]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
U8 = npt.NDArray[np.uint8]

MIN_TABLE_ROWS = 4096
ID32_LIMIT = 2**32
MIN_WIDTH, MAX_WIDTH = 10, 22
OFFSET_BYTES_PER_HASH, OFFSET_BYTES_FLOOR = 12, 128 << 20  # budget of the bucket offset tables


def chunk_plan(bits: int, rows: int) -> tuple[int, list[int]]:
    """Chunk width and the bit offset of each chunk for a set of `rows` hashes."""
    width = max(MIN_WIDTH, min(MAX_WIDTH, round(math.log2(max(rows, 2))), bits // 2))
    table_budget = max(OFFSET_BYTES_PER_HASH * rows, OFFSET_BYTES_FLOOR)
    while width > MIN_WIDTH and (
        (bits // width) * (4 << width) > table_budget  # offset tables over budget
        or (bits // width) * width < bits * 3 // 4  # e.g. 2 x 22 of 64 bits: radii too wide
    ):
        width -= 1
    return width, [i * width for i in range(bits // width)]


def radii(max_distance: int, chunks: int) -> I32:
    """Per-chunk probe radius with sum(tau + 1) = max_distance + 1 (-1 skips a chunk)."""
    q, r = divmod(max_distance + 1, chunks)
    return np.array([q if i < r else q - 1 for i in range(chunks)], dtype=np.int32)


def probes_per_chunk(width: int, tau: int) -> int:
    return sum(math.comb(width, k) for k in range(tau + 1)) if tau >= 0 else 0


@cache
def _probe_plan(width: int, chunks: int, max_distance: int) -> tuple[I32, int]:
    """Radii per chunk and the number of bucket probes they make (cached per distance)."""
    taus = radii(max_distance, chunks)
    taus.flags.writeable = False
    return taus, sum(probes_per_chunk(width, int(t)) for t in taus)


def pack(value: bytes, bits: int) -> U64:
    """Big-endian bytes to a row of 64-bit words (most significant bit first)."""
    if len(value) * 8 != bits:
        raise ValueError(f"expected a {bits}-bit value, got {len(value) * 8} bits")
    return np.frombuffer(value, dtype=">u8").astype(np.uint64)


class Table(Protocol):
    def search(self, query: U64, max_distance: int, taus: I32) -> tuple[I64, I32, int]: ...


class Kernel(Protocol):
    name: str

    def chunk_keys(self, values: U64, offset: int, width: int) -> U32: ...

    def bucket(self, keys: U32, width: int) -> tuple[U32, U32]: ...

    def scan(self, values: U64, dead: U8, query: U64, max_distance: int) -> tuple[I64, I32]: ...

    def table(
        self,
        values: U64,
        dead: U8,
        offsets_bits: list[int],
        width: int,
        bucket_offsets: list[U32],
        bucket_rows: list[U32],
    ) -> Table: ...


def _numpy_keys(values: U64, offset: int, width: int) -> U32:
    word, shift = divmod(offset, 64)
    mask = np.uint64((1 << width) - 1)
    if shift + width <= 64:
        keys = (values[:, word] >> np.uint64(64 - shift - width)) & mask
    else:
        high = values[:, word] << np.uint64(shift + width - 64)
        low = values[:, word + 1] >> np.uint64(128 - shift - width)
        keys = (high | low) & mask
    return keys.astype(np.uint32)


@cache
def _flip_masks(width: int, tau: int) -> U32:
    """Every XOR mask of at most `tau` set bits within `width` bits."""
    masks = [0]
    for k in range(1, tau + 1):
        for combo in itertools.combinations(range(width), k):
            masks.append(sum(1 << b for b in combo))
    return np.array(masks, dtype=np.uint32)


class _NumpyTable:
    def __init__(
        self,
        values: U64,
        dead: U8,
        offsets_bits: list[int],
        width: int,
        bucket_offsets: list[U32],
        bucket_rows: list[U32],
    ) -> None:
        self.values, self.dead, self.width = values, dead, width
        self.offsets_bits = offsets_bits
        self.bucket_offsets, self.bucket_rows = bucket_offsets, bucket_rows

    def search(self, query: U64, max_distance: int, taus: I32) -> tuple[I64, I32, int]:
        found: list[npt.NDArray[np.intp]] = []
        candidates = 0
        for i, tau in enumerate(taus.tolist()):
            if tau < 0:
                continue
            qkey = _numpy_keys(query[None, :], self.offsets_bits[i], self.width)[0]
            keys = _flip_masks(self.width, tau) ^ qkey
            starts = self.bucket_offsets[i][keys].astype(np.intp)
            lengths = self.bucket_offsets[i][keys + 1].astype(np.intp) - starts
            total = int(lengths.sum())
            candidates += total
            if total == 0:
                continue
            # Positions of every candidate: each bucket's start, then consecutive.
            firsts = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
            found.append(self.bucket_rows[i][firsts + np.arange(total)].astype(np.intp))
        if not found:
            return np.empty(0, np.int64), np.empty(0, np.int32), candidates
        rows = np.unique(np.concatenate(found))
        rows = rows[self.dead[rows] == 0]
        distances = np.bitwise_count(self.values[rows] ^ query).sum(axis=1)
        keep = distances <= max_distance
        return rows[keep].astype(np.int64), distances[keep].astype(np.int32), candidates


class NumpyKernel:
    """Reference implementation of the kernel in numpy."""

    name = "numpy"

    def chunk_keys(self, values: U64, offset: int, width: int) -> U32:
        return _numpy_keys(values, offset, width)

    def bucket(self, keys: U32, width: int) -> tuple[U32, U32]:
        counts = np.bincount(keys, minlength=1 << width)
        offsets = np.zeros((1 << width) + 1, dtype=np.uint32)
        np.cumsum(counts, out=offsets[1:])
        return offsets, np.argsort(keys, kind="stable").astype(np.uint32)

    def scan(self, values: U64, dead: U8, query: U64, max_distance: int) -> tuple[I64, I32]:
        if len(values) == 0:
            return np.empty(0, np.int64), np.empty(0, np.int32)
        distances = np.bitwise_count(values ^ query).sum(axis=1)
        rows = np.flatnonzero((distances <= max_distance) & (dead[: len(values)] == 0))
        return rows.astype(np.int64), distances[rows].astype(np.int32)

    def table(
        self,
        values: U64,
        dead: U8,
        offsets_bits: list[int],
        width: int,
        bucket_offsets: list[U32],
        bucket_rows: list[U32],
    ) -> Table:
        return _NumpyTable(values, dead, offsets_bits, width, bucket_offsets, bucket_rows)


class CompiledKernel:
    """The Cython kernel: same results as NumpyKernel, GIL released while searching."""

    name = "compiled"

    def __init__(self) -> None:
        from hashshare.matching import _kernel  # type: ignore[attr-defined]

        self._k: Any = _kernel

    def chunk_keys(self, values: U64, offset: int, width: int) -> U32:
        out = np.empty(len(values), dtype=np.uint32)
        self._k.chunk_keys(values, offset, width, out)
        return out

    def bucket(self, keys: U32, width: int) -> tuple[U32, U32]:
        offsets = np.empty((1 << width) + 1, dtype=np.uint32)
        rows = np.empty(len(keys), dtype=np.uint32)
        self._k.counting_sort(keys, offsets, rows)
        return offsets, rows

    def scan(self, values: U64, dead: U8, query: U64, max_distance: int) -> tuple[I64, I32]:
        rows, distances = self._k.scan(values, dead, query, max_distance)
        return rows, distances

    def table(
        self,
        values: U64,
        dead: U8,
        offsets_bits: list[int],
        width: int,
        bucket_offsets: list[U32],
        bucket_rows: list[U32],
    ) -> Table:
        table: Table = self._k.MultiIndexTable(
            values, dead, offsets_bits, width, bucket_offsets, bucket_rows
        )
        return table


def default_kernel() -> Kernel:
    """The compiled kernel if it was built, else the numpy reference."""
    try:
        return CompiledKernel()
    except ImportError:
        return NumpyKernel()


@dataclass
class _Base:
    """The frozen part: hashes sorted by id, and (if large enough) the bucket tables."""

    values: U64
    ids: npt.NDArray[np.int64] | npt.NDArray[np.uint32]
    dead: U8
    width: int
    offsets_bits: list[int]
    table: Table | None
    live: int
    buckets: list[U32]

    def nbytes(self) -> int:
        arrays: list[npt.NDArray[Any]] = [self.values, self.ids, self.dead, *self.buckets]
        return sum(array.nbytes for array in arrays)

    def row_of(self, hash_id: int) -> int | None:
        if self.ids.dtype == np.uint32 and not 0 <= hash_id < ID32_LIMIT:
            return None
        # New hashes have ids above every id in the base: no binary search for them.
        if not len(self.ids) or hash_id > self.ids[-1]:
            return None
        # The id as a scalar of the array's type: with a Python int, NumPy casts the whole
        # array (uint32 ids) to a common type on every call, 0.2 ms at 1 M hashes instead of
        # 1 us, and applying a batch's 10,000 entries took seconds.
        row = int(self.ids.searchsorted(self.ids.dtype.type(hash_id)))
        if row < len(self.ids) and self.ids[row] == hash_id and not self.dead[row]:
            return row
        return None


def _kill(base: _Base, row: int) -> None:
    base.dead[row] = 1
    base.live -= 1


def _mostly_dead(base: _Base) -> bool:
    return len(base.ids) - base.live > len(base.ids) // 4


def _build_base(kernel: Kernel, bits: int, ids: I64, values: U64, min_table_rows: int) -> _Base:
    order = np.argsort(ids, kind="stable")
    ids = np.ascontiguousarray(ids[order])
    if len(ids) and int(ids[0]) >= 0 and int(ids[-1]) < ID32_LIMIT:
        ids = ids.astype(np.uint32)  # 4 bytes per hash fewer while ids fit (they do for years)
    values = np.ascontiguousarray(values[order])
    if len(ids) > 1 and bool((ids[1:] == ids[:-1]).any()):
        raise ValueError("duplicate ids in the base")
    dead = np.zeros(max(len(ids), 1), dtype=np.uint8)
    width, offsets_bits = chunk_plan(bits, len(ids))
    table = None
    bucket_offsets: list[U32] = []
    bucket_rows: list[U32] = []
    if len(ids) >= min_table_rows:
        for offset in offsets_bits:
            bucket_offset, bucket_row = kernel.bucket(
                kernel.chunk_keys(values, offset, width), width
            )
            bucket_offsets.append(bucket_offset)
            bucket_rows.append(bucket_row)
        table = kernel.table(values, dead, offsets_bits, width, bucket_offsets, bucket_rows)
    buckets = bucket_offsets + bucket_rows
    return _Base(values, ids, dead, width, offsets_bits, table, len(ids), buckets)


class RebuildJob:
    """Inputs of a rebuild, captured so that `run()` may execute on another thread.

    A rebuild merges the delta into the *recent* base, or, once that has grown past a share
    of the *main* base (or either is a quarter dead), everything into a new main base: a
    stream of additions to a set of 10 M then costs a rebuild of the small part most of the
    time, not of all 10 M (seconds of CPU, on every worker, every `delta_rows` additions).

    The capture copies only what the event loop may change meanwhile: the bases' dead masks
    and the delta (a few MB). Selecting the live rows is a copy of the merged bases (320 MB at
    10 M PDQ hashes, seconds on a loaded machine) and happens in `run()`: a base's ids and
    values are never written once built.
    """

    def __init__(
        self,
        kernel: Kernel,
        bits: int,
        bases: list[_Base],
        delta_ids: I64,
        delta_values: U64,
        min_table_rows: int,
    ) -> None:
        self._kernel = kernel
        self._bits = bits
        self._parts = [(base.ids, base.values, base.dead[: len(base.ids)].copy()) for base in bases]
        self._delta_ids = delta_ids.copy()
        self._delta_values = delta_values.copy()
        self._min_table_rows = min_table_rows
        self.merges_main = len(bases) == 2

    def run(self) -> _Base:
        ids: list[I64] = []
        values: list[U64] = []
        for base_ids, base_values, dead in self._parts:
            live = dead == 0
            ids.append(base_ids[live].astype(np.int64))
            values.append(base_values[live])
        return _build_base(
            self._kernel,
            self._bits,
            np.concatenate([*ids, self._delta_ids]),
            np.concatenate([*values, self._delta_values]),
            self._min_table_rows,
        )


def _empty_base(kernel: Kernel, bits: int) -> _Base:
    return _build_base(kernel, bits, np.empty(0, np.int64), np.empty((0, bits // 64), np.uint64), 1)


class MultiIndexHammingIndex:
    """Exact Hamming search by multi-index hashing (see the module docstring)."""

    def __init__(
        self,
        bits: int,
        kernel: Kernel | None = None,
        *,
        min_table_rows: int = MIN_TABLE_ROWS,
        delta_rows: int = 16_384,
        recent_share: int = 16,
    ) -> None:
        if bits % 64:
            raise ValueError("bits must be a multiple of 64")
        self.bits = bits
        self.kernel = kernel or default_kernel()
        self._words = bits // 64
        self._min_table_rows = min_table_rows
        self._delta_rows = delta_rows
        self._recent_share = recent_share
        # The main base and the recent one (see `RebuildJob`); a hash is live in one place.
        self._bases = [_empty_base(self.kernel, bits), _empty_base(self.kernel, bits)]
        self._delta_values = np.zeros((64, self._words), dtype=np.uint64)
        self._delta_ids = np.zeros(64, dtype=np.int64)
        self._delta_dead = np.zeros(64, dtype=np.uint8)  # always zero: delta rows are compact
        self._delta_row_of: dict[int, int] = {}
        self._pending: list[tuple[int, bytes | None]] | None = None  # changes during a rebuild
        self._job: RebuildJob | None = None

    @classmethod
    def from_arrays(
        cls, bits: int, ids: I64, values: U64, kernel: Kernel | None = None, **options: int
    ) -> MultiIndexHammingIndex:
        """Build an index over many hashes at once: `values` holds one row of 64-bit words
        per hash (most significant bit first), `ids` the matching unique ids."""
        index = cls(bits, kernel, **options)
        words = np.ascontiguousarray(values, dtype=np.uint64).reshape(len(ids), bits // 64)
        index._bases[0] = _build_base(
            index.kernel, bits, np.asarray(ids, np.int64), words, index._min_table_rows
        )
        return index

    @classmethod
    def build(
        cls, bits: int, ids: Sequence[int], values: bytes | bytearray
    ) -> MultiIndexHammingIndex:
        """An index of `ids`, whose values (big-endian, `bits` each) are concatenated."""
        if not len(ids):
            return cls(bits)
        words = np.frombuffer(values, dtype=">u8").astype(np.uint64)
        return cls.from_arrays(bits, np.asarray(ids, dtype=np.int64), words)

    @property
    def kernel_name(self) -> str:
        return self.kernel.name

    # -- changes -------------------------------------------------------------------------

    def _find(self, hash_id: int) -> tuple[_Base, int] | None:
        """The base and row where `hash_id` is live, if it is in a base."""
        for base in self._bases:
            row = base.row_of(hash_id)
            if row is not None:
                return base, row
        return None

    def add(self, hash_id: int, value: bytes) -> None:
        packed = pack(value, self.bits)
        if self._pending is not None:
            self._pending.append((hash_id, value))
        found = self._find(hash_id)
        if found is not None:
            base, row = found
            if np.array_equal(base.values[row], packed):
                return
            _kill(base, row)
        delta_row = self._delta_row_of.get(hash_id)
        if delta_row is None:
            delta_row = len(self._delta_row_of)
            if delta_row == len(self._delta_ids):
                self._grow_delta()
            self._delta_row_of[hash_id] = delta_row
            self._delta_ids[delta_row] = hash_id
        self._delta_values[delta_row] = packed

    def remove(self, hash_id: int) -> bool:
        if self._pending is not None:
            self._pending.append((hash_id, None))
        found = self._find(hash_id)
        if found is not None:
            _kill(*found)
            return True
        delta_row = self._delta_row_of.pop(hash_id, None)
        if delta_row is None:
            return False
        last = len(self._delta_row_of)
        if delta_row != last:
            moved = int(self._delta_ids[last])
            self._delta_values[delta_row] = self._delta_values[last]
            self._delta_ids[delta_row] = moved
            self._delta_row_of[moved] = delta_row
        return True

    def _grow_delta(self) -> None:
        capacity = len(self._delta_ids) * 2
        values = np.zeros((capacity, self._words), dtype=np.uint64)
        values[: len(self._delta_ids)] = self._delta_values
        ids = np.zeros(capacity, dtype=np.int64)
        ids[: len(self._delta_ids)] = self._delta_ids
        self._delta_values, self._delta_ids = values, ids
        self._delta_dead = np.zeros(capacity, dtype=np.uint8)

    # -- rebuilding ----------------------------------------------------------------------

    def needs_rebuild(self) -> bool:
        # The delta is scanned linearly by every query: keep it small whatever the set's size.
        return self._pending is None and (
            len(self._delta_row_of) > self._delta_rows
            or any(_mostly_dead(base) for base in self._bases)
        )

    def rebuild_job(self) -> RebuildJob:
        """Capture the current set; changes from now on are replayed by `install`."""
        main, recent = self._bases
        size = len(self._delta_row_of)
        merges_main = _mostly_dead(main) or (recent.live + size) * self._recent_share > main.live
        self._pending = []
        self._job = RebuildJob(
            self.kernel,
            self.bits,
            [main, recent] if merges_main else [recent],
            self._delta_ids[:size],
            self._delta_values[:size],
            self._min_table_rows,
        )
        return self._job

    def install(self, base: _Base) -> None:
        """Swap in a rebuilt base and replay the changes made while it was built."""
        pending, self._pending = self._pending or [], None
        job, self._job = self._job, None
        if job is not None and job.merges_main:
            self._bases = [base, _empty_base(self.kernel, self.bits)]
        else:
            self._bases[1] = base
        self._delta_row_of.clear()
        for hash_id, value in pending:
            if value is None:
                self.remove(hash_id)
            else:
                self.add(hash_id, value)

    def abandon_rebuild(self) -> None:
        """The captured rebuild will not be installed (it failed): stop recording changes for
        it, so that the next one can start."""
        self._pending = None
        self._job = None

    def rebuild(self) -> None:
        self.install(self.rebuild_job().run())

    # -- queries -------------------------------------------------------------------------

    def _search_base(self, base: _Base, query: U64, max_distance: int) -> tuple[I64, I32]:
        if base.table is not None:
            taus, probes = _probe_plan(base.width, len(base.offsets_bits), max_distance)
            # Buckets hold about n / 2^width rows; past a quarter of the set, scan instead.
            if probes * len(base.ids) / (1 << base.width) < len(base.ids) / 4:
                rows, distances, _ = base.table.search(query, max_distance, taus)
                return rows, distances
        return self.kernel.scan(base.values, base.dead, query, max_distance)

    def search(self, value: bytes, max_distance: int) -> list[tuple[int, int]]:
        query = pack(value, self.bits)
        if max_distance < 0:
            return []
        hits: list[tuple[int, int]] = []
        for base in self._bases:
            if base.live:
                rows, distances = self._search_base(base, query, max_distance)
                hits.extend(zip(distances.tolist(), base.ids[rows].tolist(), strict=True))
        size = len(self._delta_row_of)
        if size:
            rows, distances = self.kernel.scan(
                self._delta_values[:size], self._delta_dead, query, max_distance
            )
            hits.extend(zip(distances.tolist(), self._delta_ids[rows].tolist(), strict=True))
        hits.sort()
        return [(hash_id, distance) for distance, hash_id in hits]

    def __len__(self) -> int:
        return sum(base.live for base in self._bases) + len(self._delta_row_of)

    def __contains__(self, hash_id: object) -> bool:
        if not isinstance(hash_id, int):
            return False
        return hash_id in self._delta_row_of or self._find(hash_id) is not None

    def memory_bytes(self) -> int:
        """Bytes held by the arrays of the index (base, tables and delta)."""
        total = sum(base.nbytes() for base in self._bases)
        total += self._delta_values.nbytes + self._delta_ids.nbytes + self._delta_dead.nbytes
        return total + len(self._delta_row_of) * 100  # dict entries, roughly
