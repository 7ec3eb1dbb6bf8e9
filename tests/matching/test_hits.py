"""The match path's memory of hits: bounded, and never keeps a row read across a change."""

from __future__ import annotations

from hashshare.matching.hits import HitCache, HitRow


def row(label: str = "a", status: str = "active") -> HitRow:
    return HitRow(
        signal_type="pdq", value="00" * 32, status=status, labels=(label,), contributors=1
    )


def test_remembered_rows_are_found_and_the_rest_reported_missing() -> None:
    cache = HitCache(10)
    cache.remember({1: row(), 2: row("b")}, cache.epoch)

    found, missing = cache.lookup([1, 2, 3])

    assert found == {1: row(), 2: row("b")}
    assert missing == [3]


def test_a_row_read_while_a_change_was_applied_is_not_remembered() -> None:
    cache = HitCache(10)
    epoch = cache.epoch  # a match starts reading hash 1 from the database...
    cache.forget([1])  # ...meanwhile a change to hash 1 commits and is applied
    cache.remember({1: row(status="active")}, epoch)  # the read may predate the change

    assert cache.lookup([1]) == ({}, [1])


def test_forget_drops_changed_rows_only() -> None:
    cache = HitCache(10)
    cache.remember({1: row(), 2: row()}, cache.epoch)

    cache.forget([2, 99])

    assert cache.lookup([1, 2]) == ({1: row()}, [2])


def test_the_least_recently_reported_row_makes_room_when_full() -> None:
    cache = HitCache(2)
    cache.remember({1: row()}, cache.epoch)
    cache.remember({2: row()}, cache.epoch)
    cache.lookup([1])  # 1 was reported again: 2 is now the least recent
    cache.remember({3: row()}, cache.epoch)

    assert len(cache) == 2
    assert cache.lookup([1, 2, 3]) == ({1: row(), 3: row()}, [2])


def test_capacity_zero_remembers_nothing() -> None:
    cache = HitCache(0)
    cache.remember({1: row()}, cache.epoch)

    assert cache.lookup([1]) == ({}, [1])
