"""The change follower applies a source's entries in order, and stops without cutting a
read of the source short (a cancelled database read can leave its connection inside an
open transaction, which then blocks every writer of the table)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hashshare.changes.entry import ChangeEntry
from hashshare.matching.follower import APPLY_SLICE, ChangeFollower


def _entry(seq: int) -> ChangeEntry:
    return ChangeEntry(
        hash_id=seq,
        signal_type="md5",
        value=seq.to_bytes(16, "big"),
        status="active",
        labels=(),
        contributors=1,
        changed_at=datetime(2026, 12, 7, tzinfo=UTC),
        seq=seq,
    )


@dataclass
class SlowSource:
    """A source whose reads wait for `release`."""

    entries: list[ChangeEntry]
    release: asyncio.Event = field(default_factory=asyncio.Event)
    reading: asyncio.Event = field(default_factory=asyncio.Event)
    finished_reads: int = 0
    cancelled_reads: int = 0

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def after(self, seq: int, limit: int) -> Sequence[ChangeEntry]:
        self.reading.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled_reads += 1
            raise
        self.finished_reads += 1
        return [entry for entry in self.entries if (entry.seq or 0) > seq][:limit]

    async def head(self) -> int:
        return len(self.entries)

    async def changed_at(self, seq: int) -> datetime | None:
        return None

    async def wait(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass
class Copy:
    applied: list[int] = field(default_factory=list)

    def apply(self, changes: Sequence[ChangeEntry]) -> None:
        self.applied.extend(change.hash_id for change in changes)


async def test_entries_are_applied_in_order_and_the_position_follows() -> None:
    source = SlowSource([_entry(1), _entry(2), _entry(3)])
    source.release.set()
    copy = Copy()
    follower = ChangeFollower(copy, source, poll_seconds=60)

    assert await follower.poll() == 3
    assert copy.applied == [1, 2, 3]
    assert (follower.position.applied_seq, follower.position.head_seq) == (3, 3)


async def test_a_stop_lets_the_read_in_progress_finish() -> None:
    source = SlowSource([_entry(1)])
    copy = Copy()
    follower = ChangeFollower(copy, source, poll_seconds=60)
    await follower.start()
    await source.reading.wait()

    stopping = asyncio.create_task(follower.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()  # waiting for the read, not cancelling it
    source.release.set()
    await asyncio.wait_for(stopping, 5)

    assert (source.finished_reads, source.cancelled_reads) == (1, 0)
    assert copy.applied == [1]


async def test_a_stop_between_polls_is_immediate() -> None:
    source = SlowSource([])
    source.release.set()
    follower = ChangeFollower(Copy(), source, poll_seconds=60)
    await follower.start()
    await source.reading.wait()
    await asyncio.sleep(0.05)  # the poll is done; the follower waits for news

    await asyncio.wait_for(follower.stop(), 1)


async def test_a_large_page_is_applied_in_slices_with_other_tasks_between() -> None:
    """A bulk submission's page of changes does not hold the event loop: a task that is
    ready (a match) runs between two slices, and sees the position of the slices before."""
    page = ChangeFollower.BATCH
    source = SlowSource([_entry(seq) for seq in range(1, page + 1)])
    source.release.set()
    copy = Copy()
    follower = ChangeFollower(copy, source, poll_seconds=60)
    seen: list[tuple[int, int]] = []

    async def match() -> None:
        while len(seen) < 3:
            seen.append((len(copy.applied), follower.position.applied_seq))
            await asyncio.sleep(0)

    matching = asyncio.create_task(match())
    assert await follower.poll() == page
    await matching
    assert page > APPLY_SLICE
    step = APPLY_SLICE
    assert seen == [(step, step), (2 * step, 2 * step), (3 * step, 3 * step)]
    assert copy.applied == list(range(1, page + 1))
    assert follower.position.applied_seq == page
