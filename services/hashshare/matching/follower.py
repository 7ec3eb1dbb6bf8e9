"""Follows a change source into an in-memory copy of the shared set.

The follower reads, from where it has applied up to, every entry of a `ChangeSource` (the
database's feed in the service; the central service's `/v1/changes` for a member's copy)
and hands them, in order, to the copy's `apply`: the same function the writing process
calls for its own entries. Between polls it waits for news from the source, or
`poll_seconds` at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hashshare.changes.entry import ChangeSink, ChangeSource

log = logging.getLogger(__name__)

# A page of changes is applied this many at a time, other requests let run in between: a
# bulk submission's 5,000-change page applied at once held the event loop for 100-200 ms on
# a loaded 2-core machine, and every match the process was answering waited. The follower
# applies the feed in order, so a commit of this process applied in between (newer) is
# overwritten by an older entry of the page only until the follower reaches that commit's
# own entries, which come later in the feed.
APPLY_SLICE = 500


@dataclass
class FeedPosition:
    """How far a copy has applied the change feed."""

    applied_seq: int = 0
    head_seq: int = 0
    checked_at: float | None = None  # monotonic time of the last successful poll
    oldest_unapplied_at: datetime | None = None

    def status(self, now: Callable[[], float] = time.monotonic) -> dict[str, Any]:
        """What /readyz reports: position, how far behind, in entries and seconds."""
        lag_seconds = 0.0
        if self.oldest_unapplied_at is not None:
            lag_seconds = max(0.0, (datetime.now(UTC) - self.oldest_unapplied_at).total_seconds())
        return {
            "applied_seq": self.applied_seq,
            "head_seq": self.head_seq,
            "behind": max(0, self.head_seq - self.applied_seq),
            "behind_seconds": round(lag_seconds, 3),
            "last_poll_seconds_ago": None
            if self.checked_at is None
            else round(now() - self.checked_at, 3),
        }


class ChangeFollower:
    """Applies a source's changes to a sink until stopped."""

    BATCH = 5000
    STOP_GRACE_SECONDS = 10.0

    def __init__(
        self,
        sink: ChangeSink,
        source: ChangeSource,
        poll_seconds: float,
        after_poll: Callable[[], None] | None = None,
    ) -> None:
        self.sink = sink
        self.source = source
        self.poll_seconds = poll_seconds
        self.position = FeedPosition()
        self._after_poll = after_poll
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        # Clear while a poll is reading the source: a stop lets it finish rather than cancel
        # it inside a database transaction (the connection would be left in one).
        self._between_polls = asyncio.Event()
        self._between_polls.set()

    def start_at(self, seq: int) -> None:
        """Everything up to `seq` is in the copy already (a load read the feed's head first)."""
        self.position = FeedPosition(applied_seq=seq, head_seq=seq, checked_at=time.monotonic())

    async def start(self) -> None:
        self._stopping = False
        await self.source.start()
        self._task = asyncio.create_task(self._run(), name="hashshare-change-follower")

    async def stop(self) -> None:
        """Stop after the poll in progress, if any (waiting `STOP_GRACE_SECONDS` at most)."""
        self._stopping = True
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.STOP_GRACE_SECONDS):
                    await self._between_polls.wait()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.source.stop()

    async def _run(self) -> None:
        while not self._stopping:
            self._between_polls.clear()
            try:
                await self.poll()
            except Exception:
                log.exception("change feed poll failed; retrying")
            finally:
                self._between_polls.set()
            if self._after_poll is not None:
                self._after_poll()
            await self.source.wait(self.poll_seconds)

    async def poll(self) -> int:
        """Apply every change after the applied position; return how many were applied."""
        applied = 0
        position = self.position
        while True:
            changes = await self.source.after(position.applied_seq, self.BATCH)
            for start in range(0, len(changes), APPLY_SLICE):
                if start:
                    await asyncio.sleep(0)
                part = changes[start : start + APPLY_SLICE]
                self.sink.apply(part)
                position.applied_seq = part[-1].seq or position.applied_seq
            applied += len(changes)
            if len(changes) < self.BATCH:
                break
        position.head_seq = max(await self.source.head(), position.applied_seq)
        position.oldest_unapplied_at = (
            await self.source.changed_at(position.applied_seq + 1)
            if position.head_seq > position.applied_seq
            else None
        )
        position.checked_at = time.monotonic()
        return applied
