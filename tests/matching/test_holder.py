"""The in-memory shared set changes one way, `IndexHolder.apply`, for a process's own
entries (no sequence number yet) and for those the feed brings (numbered) alike."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from hashshare.changes.entry import ChangeEntry
from hashshare.matching.hits import HitRow
from hashshare.matching.holder import IndexHolder
from hashshare.matching.mih import MultiIndexHammingIndex, RebuildJob
from tests.values import pdq_value

VALUE = bytes.fromhex(pdq_value(5))
ENTRY = ChangeEntry(
    hash_id=7,
    signal_type="pdq",
    value=VALUE,
    status="active",
    labels=("attacker-manifesto",),
    contributors=1,
    changed_at=datetime(2026, 12, 7, tzinfo=UTC),
)
ROW = HitRow("pdq", VALUE.hex(), "active", ("attacker-manifesto",), 1)


def _remembered(holder: IndexHolder) -> bool:
    return 7 in holder.hits.lookup([7])[0]


def _holder_that_remembers_its_own_entry() -> IndexHolder:
    holder = IndexHolder(hit_cache_size=10)
    holder.apply([ENTRY])
    holder.hits.remember({7: ROW}, holder.hits.epoch)
    return holder


def test_an_entry_puts_a_matchable_hash_in_and_a_retracted_one_out() -> None:
    holder = IndexHolder()
    holder.apply([ENTRY])
    assert holder.search("pdq", VALUE, 0) == [(7, 0)]

    holder.apply([replace(ENTRY, status="retracted", contributors=0, seq=2)])
    assert holder.search("pdq", VALUE, 0) == []


def test_an_own_entry_coming_back_from_the_feed_forgets_nothing() -> None:
    holder = _holder_that_remembers_its_own_entry()
    epoch = holder.hits.epoch

    holder.apply([replace(ENTRY, seq=1)])

    assert _remembered(holder)
    assert holder.hits.epoch == epoch  # reads in flight stay valid


def test_a_different_state_from_the_feed_forgets_the_hash() -> None:
    holder = _holder_that_remembers_its_own_entry()

    holder.apply([replace(ENTRY, status="disputed", seq=1)])

    assert not _remembered(holder)


def test_an_entry_of_another_process_forgets_the_hash() -> None:
    holder = IndexHolder(hit_cache_size=10)
    holder.hits.remember({7: ROW}, holder.hits.epoch)

    holder.apply([replace(ENTRY, seq=1)])

    assert not _remembered(holder)


async def test_a_failed_rebuild_leaves_the_index_serving_and_able_to_rebuild_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    holder = IndexHolder()
    holder.install({"pdq": MultiIndexHammingIndex(256, delta_rows=4)}, 0.0)
    entries = [
        replace(ENTRY, hash_id=hash_id, value=bytes.fromhex(pdq_value(hash_id)))
        for hash_id in range(1, 7)
    ]
    holder.apply(entries)
    index = holder.index("pdq")

    def fail(job: RebuildJob) -> None:
        raise MemoryError("no room for the new base")

    monkeypatch.setattr(RebuildJob, "run", fail)
    holder.start_rebuilds()
    await asyncio.gather(*holder._rebuilds.values(), return_exceptions=True)

    assert not holder._rebuilds
    assert index.needs_rebuild()  # not stuck as if a rebuild were still running
    assert holder.search("pdq", entries[2].value, 0) == [(3, 0)]

    monkeypatch.undo()
    holder.start_rebuilds()
    await asyncio.gather(*holder._rebuilds.values())

    assert not index.needs_rebuild()
    assert [holder.search("pdq", e.value, 0) for e in entries] == [
        [(e.hash_id, 0)] for e in entries
    ]
