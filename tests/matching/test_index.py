"""The in-memory match indexes against a brute-force reference.

`HammingIndex` must return exactly what a scan of every stored value returns, ordered by
(distance, id), whatever sequence of adds, replacements and removals came before.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hashshare.matching.index import ExactIndex, HammingIndex

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
    return st.lists(st.one_of(add, add, remove), max_size=40)


def queries(bits: int) -> st.SearchStrategy[list[tuple[int, int]]]:
    return st.lists(st.tuples(hash_values(bits), st.integers(0, bits)), min_size=1, max_size=6)


def check_hamming_against_brute_force(
    bits: int, ops: list[tuple[Any, ...]], asked: list[tuple[int, int]]
) -> None:
    index = HammingIndex(bits)
    model: dict[int, int] = {}
    for op in ops:
        if op[0] == "add":
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


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_hamming_64_equals_brute_force_after_any_adds_and_removes(data: st.DataObject) -> None:
    check_hamming_against_brute_force(
        64, data.draw(operations(64), "ops"), data.draw(queries(64), "queries")
    )


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_hamming_256_equals_brute_force_after_any_adds_and_removes(data: st.DataObject) -> None:
    check_hamming_against_brute_force(
        256, data.draw(operations(256), "ops"), data.draw(queries(256), "queries")
    )


@pytest.mark.parametrize("bits", WIDTHS)
def test_hamming_equals_brute_force_beyond_the_initial_capacity(bits: int) -> None:
    rng = random.Random(bits)
    index = HammingIndex(bits)
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
def test_all_zero_and_all_one_values_are_the_full_width_apart(bits: int) -> None:
    zeros, ones = bytes(bits // 8), b"\xff" * (bits // 8)
    index = HammingIndex(bits)
    index.add(1, zeros)
    index.add(2, ones)

    assert index.search(zeros, bits) == [(1, 0), (2, bits)]
    assert index.search(ones, bits) == [(2, 0), (1, bits)]
    assert index.search(zeros, bits - 1) == [(1, 0)]


@pytest.mark.parametrize("bits", WIDTHS)
def test_duplicate_values_under_different_ids_are_all_returned_by_id(bits: int) -> None:
    value = to_bytes(0xDEADBEEF, bits)
    index = HammingIndex(bits)
    for hash_id in (30, 10, LARGEST_ID, 20):
        index.add(hash_id, value)

    assert index.search(value, 0) == [(10, 0), (20, 0), (30, 0), (LARGEST_ID, 0)]


@pytest.mark.parametrize("bits", WIDTHS)
def test_distance_equal_to_max_distance_is_included(bits: int) -> None:
    index = HammingIndex(bits)
    index.add(1, to_bytes(flipped(0, list(range(10))), bits))

    assert index.search(bytes(bits // 8), 10) == [(1, 10)]


@pytest.mark.parametrize("bits", WIDTHS)
def test_distance_one_above_max_distance_is_excluded(bits: int) -> None:
    index = HammingIndex(bits)
    index.add(1, to_bytes(flipped(0, list(range(11))), bits))

    assert index.search(bytes(bits // 8), 10) == []


@pytest.mark.parametrize("bits", WIDTHS)
def test_results_are_ordered_by_distance_then_id(bits: int) -> None:
    index = HammingIndex(bits)
    index.add(5, to_bytes(0b111, bits))
    index.add(1, to_bytes(0b1111, bits))
    index.add(9, to_bytes(0b1, bits))
    index.add(3, to_bytes(0b111 << 8, bits))

    assert index.search(bytes(bits // 8), bits) == [(9, 1), (3, 3), (5, 3), (1, 4)]


@pytest.mark.parametrize("bits", WIDTHS)
def test_re_adding_an_id_replaces_its_value(bits: int) -> None:
    old, new = to_bytes(0, bits), b"\xff" * (bits // 8)
    index = HammingIndex(bits)
    index.add(7, old)
    index.add(7, new)

    assert len(index) == 1
    assert index.search(old, 0) == []
    assert index.search(new, 0) == [(7, 0)]


@pytest.mark.parametrize("bits", WIDTHS)
def test_removed_hash_is_no_longer_found_and_others_remain(bits: int) -> None:
    index = HammingIndex(bits)
    for hash_id in (1, 2, 3):
        index.add(hash_id, to_bytes(hash_id, bits))

    assert index.remove(1)
    assert not index.remove(1)
    assert 1 not in index
    assert index.search(to_bytes(0, bits), bits) == [(2, 1), (3, 2)]


def test_empty_hamming_index_finds_nothing() -> None:
    index = HammingIndex(256)

    assert index.search(bytes(32), 256) == []
    assert len(index) == 0


def test_negative_max_distance_finds_nothing() -> None:
    index = HammingIndex(64)
    index.add(1, bytes(8))

    assert index.search(bytes(8), -1) == []


# --- widths -----------------------------------------------------------------------------


@pytest.mark.parametrize("bits", WIDTHS)
@pytest.mark.parametrize("delta", [-8, 8])
def test_hamming_index_refuses_values_of_the_wrong_width(bits: int, delta: int) -> None:
    index = HammingIndex(bits)
    wrong = bytes((bits + delta) // 8)
    index.add(1, bytes(bits // 8))

    with pytest.raises(ValueError, match="bit"):
        index.add(2, wrong)
    with pytest.raises(ValueError, match="bit"):
        index.search(wrong, 1)
    assert len(index) == 1


def test_hamming_index_refuses_a_width_that_is_not_a_multiple_of_64() -> None:
    with pytest.raises(ValueError, match="64"):
        HammingIndex(100)


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
