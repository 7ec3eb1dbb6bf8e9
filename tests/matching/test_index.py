"""The in-memory match indexes against a brute-force reference.

`MultiIndexHammingIndex` must return exactly what a scan of every stored value returns,
ordered by (distance, id), whatever sequence of adds, replacements, removals and rebuilds
came before, with the compiled kernel and with the numpy reference kernel alike. The
thresholds are tiny here so that every path (bucket tables, delta, dead rows, rebuilds with
changes replayed, into the recent base or into the main one) runs on small sets.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashshare.matching.index import ExactIndex
from hashshare.matching.mih import (
    CompiledKernel,
    Kernel,
    MultiIndexHammingIndex,
    NumpyKernel,
    chunk_plan,
)

KERNELS: dict[str, Callable[[], Kernel]] = {"compiled": CompiledKernel, "numpy": NumpyKernel}


@pytest.fixture(params=sorted(KERNELS))
def make_index(request: pytest.FixtureRequest) -> Callable[[int], MultiIndexHammingIndex]:
    kernel = KERNELS[request.param]()

    def make(bits: int) -> MultiIndexHammingIndex:
        # recent_share=1: the recent base is merged into the main one as soon as it is as
        # large, so that small sets take both kinds of rebuild.
        return MultiIndexHammingIndex(bits, kernel, min_table_rows=8, delta_rows=4, recent_share=1)

    return make


WIDTHS = (64, 256)
LARGEST_ID = 2**63 - 1


def to_bytes(value: int, bits: int) -> bytes:
    return value.to_bytes(bits // 8, "big")


def brute_force(stored: dict[int, int], query: int, max_distance: int) -> list[tuple[int, int]]:
    """The reference answer: every stored id within max_distance, by (distance, id)."""
    hits = [((value ^ query).bit_count(), hash_id) for hash_id, value in stored.items()]
    return [(hash_id, d) for d, hash_id in sorted(hits) if d <= max_distance]


def flipped(value: int, positions: list[int]) -> int:
    for position in positions:
        value ^= 1 << position
    return value


def hash_values(bits: int) -> st.SearchStrategy[int]:
    """Values that collide and cluster: extremes, near-neighbours of a few bases, random."""
    ones = (1 << bits) - 1
    bases = st.sampled_from([0, ones, 0x5555555555555555 % (1 << bits), ones >> 1])
    near = st.builds(flipped, bases, st.lists(st.integers(0, bits - 1), max_size=bits // 4))
    return st.one_of(st.just(0), st.just(ones), near, st.integers(0, ones))


hash_ids = st.one_of(st.integers(1, 12), st.just(LARGEST_ID))


def operations(bits: int) -> st.SearchStrategy[list[tuple[Any, ...]]]:
    add = st.tuples(st.just("add"), hash_ids, hash_values(bits))
    remove = st.tuples(st.just("remove"), hash_ids)
    # "begin" captures a rebuild; later changes are replayed when "install" swaps it in.
    rebuild = st.tuples(st.sampled_from(["rebuild", "begin", "install"]))
    return st.lists(st.one_of(add, add, remove, rebuild), max_size=40)


def queries(bits: int) -> st.SearchStrategy[list[tuple[int, int]]]:
    return st.lists(st.tuples(hash_values(bits), st.integers(0, bits)), min_size=1, max_size=6)


def check_hamming_against_brute_force(
    index: MultiIndexHammingIndex, ops: list[tuple[Any, ...]], asked: list[tuple[int, int]]
) -> None:
    bits = index.bits
    model: dict[int, int] = {}
    job = None
    for op in ops:
        if op[0] == "rebuild":
            if job is None:
                index.rebuild()
        elif op[0] == "begin":
            job = job or index.rebuild_job()
        elif op[0] == "install":
            if job is not None:
                index.install(job.run())
                job = None
        elif op[0] == "add":
            _, hash_id, value = op
            index.add(hash_id, to_bytes(value, bits))
            model[hash_id] = value
        else:
            _, hash_id = op
            assert index.remove(hash_id) == (hash_id in model)
            model.pop(hash_id, None)
    assert len(index) == len(model)
    for hash_id in [*range(1, 13), LARGEST_ID]:
        assert (hash_id in index) == (hash_id in model)
    for query, max_distance in asked:
        assert index.search(to_bytes(query, bits), max_distance) == brute_force(
            model, query, max_distance
        )


FIXTURE_OK = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FIXTURE_OK
@given(data=st.data())
def test_hamming_64_equals_brute_force_after_any_adds_and_removes(
    make_index: Callable[[int], MultiIndexHammingIndex], data: st.DataObject
) -> None:
    check_hamming_against_brute_force(
        make_index(64), data.draw(operations(64), "ops"), data.draw(queries(64), "queries")
    )


@FIXTURE_OK
@given(data=st.data())
def test_hamming_256_equals_brute_force_after_any_adds_and_removes(
    make_index: Callable[[int], MultiIndexHammingIndex], data: st.DataObject
) -> None:
    check_hamming_against_brute_force(
        make_index(256), data.draw(operations(256), "ops"), data.draw(queries(256), "queries")
    )


@pytest.mark.parametrize("bits", WIDTHS)
def test_hamming_equals_brute_force_beyond_the_initial_capacity(
    make_index: Callable[[int], MultiIndexHammingIndex], bits: int
) -> None:
    rng = random.Random(bits)
    index = make_index(bits)
    model: dict[int, int] = {}
    base = rng.getrandbits(bits)
    for hash_id in range(1, 3001):
        value = flipped(base, rng.sample(range(bits), rng.randrange(bits // 2)))
        index.add(hash_id, to_bytes(value, bits))
        model[hash_id] = value
    for hash_id in rng.sample(range(1, 3001), 1200):
        assert index.remove(hash_id)
        del model[hash_id]
    for hash_id in range(5000, 5300):
        value = rng.getrandbits(bits)
        index.add(hash_id, to_bytes(value, bits))
        model[hash_id] = value

    assert len(index) == len(model)
    for max_distance in (0, bits // 8, bits // 4, bits // 2, bits):
        query = flipped(base, rng.sample(range(bits), 3))
        assert index.search(to_bytes(query, bits), max_distance) == brute_force(
            model, query, max_distance
        )


# --- adversarial values -----------------------------------------------------------------


@pytest.mark.parametrize("bits", WIDTHS)
def test_all_zero_and_all_one_values_are_the_full_width_apart(
    make_index: Callable[[int], MultiIndexHammingIndex], bits: int
) -> None:
    zeros, ones = bytes(bits // 8), b"\xff" * (bits // 8)
    index = make_index(bits)
    index.add(1, zeros)
    index.add(2, ones)

    assert index.search(zeros, bits) == [(1, 0), (2, bits)]
    assert index.search(ones, bits) == [(2, 0), (1, bits)]
    assert index.search(zeros, bits - 1) == [(1, 0)]


@pytest.mark.parametrize("bits", WIDTHS)
def test_duplicate_values_under_different_ids_are_all_returned_by_id(
    make_index: Callable[[int], MultiIndexHammingIndex], bits: int
) -> None:
    value = to_bytes(0xDEADBEEF, bits)
    index = make_index(bits)
    for hash_id in (30, 10, LARGEST_ID, 20):
        index.add(hash_id, value)

    assert index.search(value, 0) == [(10, 0), (20, 0), (30, 0), (LARGEST_ID, 0)]


@pytest.mark.parametrize("bits", WIDTHS)
def test_distance_equal_to_max_distance_is_included(
    make_index: Callable[[int], MultiIndexHammingIndex], bits: int
) -> None:
    index = make_index(bits)
    index.add(1, to_bytes(flipped(0, list(range(10))), bits))

    assert index.search(bytes(bits // 8), 10) == [(1, 10)]


@pytest.mark.parametrize("bits", WIDTHS)
def test_distance_one_above_max_distance_is_excluded(
    make_index: Callable[[int], MultiIndexHammingIndex], bits: int
) -> None:
    index = make_index(bits)
    index.add(1, to_bytes(flipped(0, list(range(11))), bits))

    assert index.search(bytes(bits // 8), 10) == []


@pytest.mark.parametrize("bits", WIDTHS)
def test_results_are_ordered_by_distance_then_id(
    make_index: Callable[[int], MultiIndexHammingIndex], bits: int
) -> None:
    index = make_index(bits)
    index.add(5, to_bytes(0b111, bits))
    index.add(1, to_bytes(0b1111, bits))
    index.add(9, to_bytes(0b1, bits))
    index.add(3, to_bytes(0b111 << 8, bits))

    assert index.search(bytes(bits // 8), bits) == [(9, 1), (3, 3), (5, 3), (1, 4)]


@pytest.mark.parametrize("bits", WIDTHS)
def test_re_adding_an_id_replaces_its_value(
    make_index: Callable[[int], MultiIndexHammingIndex], bits: int
) -> None:
    old, new = to_bytes(0, bits), b"\xff" * (bits // 8)
    index = make_index(bits)
    index.add(7, old)
    index.add(7, new)

    assert len(index) == 1
    assert index.search(old, 0) == []
    assert index.search(new, 0) == [(7, 0)]


@pytest.mark.parametrize("bits", WIDTHS)
def test_removed_hash_is_no_longer_found_and_others_remain(
    make_index: Callable[[int], MultiIndexHammingIndex], bits: int
) -> None:
    index = make_index(bits)
    for hash_id in (1, 2, 3):
        index.add(hash_id, to_bytes(hash_id, bits))

    assert index.remove(1)
    assert not index.remove(1)
    assert 1 not in index
    assert index.search(to_bytes(0, bits), bits) == [(2, 1), (3, 2)]


def test_empty_hamming_index_finds_nothing(
    make_index: Callable[[int], MultiIndexHammingIndex],
) -> None:
    index = make_index(256)

    assert index.search(bytes(32), 256) == []
    assert len(index) == 0


def test_negative_max_distance_finds_nothing(
    make_index: Callable[[int], MultiIndexHammingIndex],
) -> None:
    index = make_index(64)
    index.add(1, bytes(8))

    assert index.search(bytes(8), -1) == []


# --- widths -----------------------------------------------------------------------------


@pytest.mark.parametrize("bits", WIDTHS)
@pytest.mark.parametrize("delta", [-8, 8])
def test_hamming_index_refuses_values_of_the_wrong_width(
    make_index: Callable[[int], MultiIndexHammingIndex], bits: int, delta: int
) -> None:
    index = make_index(bits)
    wrong = bytes((bits + delta) // 8)
    index.add(1, bytes(bits // 8))

    with pytest.raises(ValueError, match="bit"):
        index.add(2, wrong)
    with pytest.raises(ValueError, match="bit"):
        index.search(wrong, 1)
    assert len(index) == 1


def test_hamming_index_refuses_a_width_that_is_not_a_multiple_of_64(
    make_index: Callable[[int], MultiIndexHammingIndex],
) -> None:
    with pytest.raises(ValueError, match="64"):
        make_index(100)


# --- ExactIndex -------------------------------------------------------------------------


def test_exact_index_finds_only_equal_values() -> None:
    index = ExactIndex(128)
    value = bytes.fromhex("d41d8cd98f00b204e9800998ecf8427e")
    index.add(1, value)

    assert index.search(value, 0) == [(1, 0)]
    one_bit_off = bytes([value[0] ^ 1]) + value[1:]
    assert index.search(one_bit_off, 128) == []


def test_exact_index_returns_duplicate_values_ordered_by_id() -> None:
    index = ExactIndex(256)
    value = bytes(range(32))
    for hash_id in (3, 1, 2):
        index.add(hash_id, value)

    assert index.search(value, 0) == [(1, 0), (2, 0), (3, 0)]


def test_exact_index_removal() -> None:
    index = ExactIndex(128)
    value = bytes(16)
    index.add(1, value)
    index.add(2, value)

    assert index.remove(1)
    assert not index.remove(1)
    assert 1 not in index
    assert 2 in index
    assert len(index) == 1
    assert index.search(value, 0) == [(2, 0)]
    assert index.remove(2)
    assert index.search(value, 0) == []


def test_exact_index_re_adding_an_id_replaces_its_value() -> None:
    index = ExactIndex(128)
    old, new = bytes(16), b"\x01" * 16
    index.add(1, old)
    index.add(1, new)

    assert len(index) == 1
    assert index.search(old, 0) == []
    assert index.search(new, 0) == [(1, 0)]


@pytest.mark.parametrize("length", [15, 17, 0])
def test_exact_index_refuses_values_of_the_wrong_width(length: int) -> None:
    index = ExactIndex(128)

    with pytest.raises(ValueError, match="bit"):
        index.add(1, bytes(length))
    with pytest.raises(ValueError, match="bit"):
        index.search(bytes(length), 0)
    assert len(index) == 0


@settings(max_examples=200, deadline=None)
@given(
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("add"), st.integers(1, 8), st.sampled_from([b"a" * 16, b"b" * 16])),
            st.tuples(st.just("remove"), st.integers(1, 8)),
        ),
        max_size=30,
    )
)
def test_exact_index_equals_a_dict_after_any_adds_and_removes(
    ops: list[tuple[Any, ...]],
) -> None:
    index = ExactIndex(128)
    model: dict[int, bytes] = {}
    for op in ops:
        if op[0] == "add":
            index.add(op[1], op[2])
            model[op[1]] = op[2]
        else:
            assert index.remove(op[1]) == (op[1] in model)
            model.pop(op[1], None)

    assert len(index) == len(model)
    for value in (b"a" * 16, b"b" * 16):
        expected = sorted(hash_id for hash_id, v in model.items() if v == value)
        assert index.search(value, 0) == [(hash_id, 0) for hash_id in expected]


# --- at scale ---------------------------------------------------------------------------


def test_the_compiled_kernel_is_built_and_used_by_default() -> None:
    """`make` builds the Cython kernel; a silent fall-back to numpy would be 20x slower."""
    from hashshare.matching.mih import default_kernel

    assert default_kernel().name == "compiled"
    assert MultiIndexHammingIndex(256).kernel.name == "compiled"


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_every_distance_up_to_31_has_full_recall_on_clustered_pdq_hashes(kernel: str) -> None:
    """Families of near-duplicates (the data on which multi-index hashing is weakest)."""
    rng = np.random.default_rng(7)
    bases = rng.integers(0, 256, size=(200, 32), dtype=np.uint8)
    family = np.repeat(bases, 50, axis=0)
    for row in family:
        for bit in rng.choice(256, size=rng.integers(0, 41), replace=False):
            row[bit // 8] ^= 1 << (bit % 8)
    values = family.view(">u8").astype(np.uint64)
    ids = rng.permutation(len(values)).astype(np.int64) * 7 + 1
    index = MultiIndexHammingIndex.from_arrays(256, ids, values, KERNELS[kernel]())
    for hash_id in ids[:500].tolist():
        index.remove(hash_id)
    live = {int(i): v for i, v in zip(ids.tolist(), family, strict=True)}
    for hash_id in ids[:500].tolist():
        del live[hash_id]
    model = {i: int.from_bytes(v.tobytes(), "big") for i, v in live.items()}

    for query_row in family[rng.choice(len(family), size=20, replace=False)]:
        query = flipped(int.from_bytes(query_row.tobytes(), "big"), rng.choice(256, 6).tolist())
        for max_distance in range(32):
            assert index.search(to_bytes(query, 256), max_distance) == brute_force(
                model, query, max_distance
            ), f"distance {max_distance}"


# --- chunk plan ---------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [1_000, 100_000, 1_000_000, 3_000_000, 10_000_000, 50_000_000])
@pytest.mark.parametrize("bits", [64, 256])
def test_chunk_plan_covers_most_bits_and_keeps_offset_tables_in_budget(
    bits: int, rows: int
) -> None:

    width, offsets = chunk_plan(bits, rows)

    assert offsets == [i * width for i in range(len(offsets))]
    assert len(offsets) * width <= bits
    assert len(offsets) * width >= bits * 3 // 4
    assert len(offsets) * (4 << width) <= max(12 * rows, 128 << 20)


def test_chunk_plan_keeps_10_million_pdq_hashes_within_96_bytes_each() -> None:

    width, offsets = chunk_plan(256, 10_000_000)
    per_hash = 32 + 4 + 1 + 4 * len(offsets) + len(offsets) * (4 << width) / 10_000_000

    assert (width, len(offsets)) == (21, 12)
    assert per_hash <= 96


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_additions_to_a_large_set_rebuild_the_recent_base_until_it_is_a_share_of_the_main(
    kernel: str,
) -> None:
    rng = random.Random(7)
    stored = {hash_id: rng.getrandbits(256) for hash_id in range(1, 801)}
    words = np.array(
        [np.frombuffer(to_bytes(v, 256), dtype=">u8") for v in stored.values()], dtype=np.uint64
    )
    index = MultiIndexHammingIndex.from_arrays(
        256,
        np.array(list(stored), dtype=np.int64),
        words,
        KERNELS[kernel](),
        min_table_rows=8,
        delta_rows=10,
    )
    kinds = []
    for hash_id in range(801, 1001):
        stored[hash_id] = rng.getrandbits(256)
        index.add(hash_id, to_bytes(stored[hash_id], 256))
        if index.needs_rebuild():
            job = index.rebuild_job()
            kinds.append("main" if job.merges_main else "recent")
            index.install(job.run())
    # 200 additions, 11 at a time: the recent base takes them until it would hold more than a
    # sixteenth of the main base (800 / 16 = 50), then everything is merged into the main base,
    # and the recent base grows again (to 55 of 855, then 66 of 910).
    assert (
        kinds
        == ["recent"] * 4
        + ["main"]
        + ["recent"] * 4
        + ["main"]
        + ["recent"] * 5
        + ["main"]
        + ["recent"] * 2
    )
    assert len(index) == 1000
    for hash_id in (1, 400, 800, 801, 950, 1000):
        query = flipped(stored[hash_id], [3, 77, 200])
        assert index.search(to_bytes(query, 256), 31) == brute_force(stored, query, 31)
