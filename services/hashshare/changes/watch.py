"""How far this process has seen the change feed, for readers that wait for it to move.

A long-poll of `GET /v1/changes` waits here, not in a loop of queries: the process's own
follower (woken by LISTEN/NOTIFY on PostgreSQL, polling on SQLite) calls `moved` after each
poll, and every waiter whose cursor is now behind the feed is released at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable


class FeedWatch:
    def __init__(self, position: Callable[[], int]) -> None:
        self._position = position  # the sequence number the process has applied up to
        self._moved = asyncio.Event()

    @property
    def seq(self) -> int:
        return self._position()

    def moved(self) -> None:
        """The position may have changed: let every waiter look again."""
        # Each waiter holds the event of its own time: set it, and start a new one.
        moved, self._moved = self._moved, asyncio.Event()
        moved.set()

    async def wait_past(self, seq: int, seconds: float) -> None:
        """Return once the feed reaches beyond `seq`, or after `seconds`."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while self.seq <= seq:
                    await self._moved.wait()
