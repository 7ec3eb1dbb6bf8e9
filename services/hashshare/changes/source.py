"""The database as a `ChangeSource`: the feed table, woken by PostgreSQL's LISTEN/NOTIFY.

Without LISTEN (SQLite, or a server that refuses the connection) the follower polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hashshare.changes.entry import ChangeEntry
from hashshare.changes.repository import NOTIFY_CHANNEL, ChangeRepository
from hashshare.db import Database, pg_connect

log = logging.getLogger(__name__)

RELISTEN_SECONDS = 5.0


class DatabaseChangeSource:
    def __init__(self, database: Database) -> None:
        self._database = database
        self._wake = asyncio.Event()
        self._listener: Any = None
        self._listen_tried_at = time.monotonic()

    async def start(self) -> None:
        if self._database.postgresql:
            await self._listen()

    async def stop(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
            self._listener = None

    async def _listen(self) -> None:
        import asyncpg

        try:
            self._listener = await pg_connect(self._database.url)
            await self._listener.add_listener(NOTIFY_CHANNEL, self._notified)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("LISTEN unavailable, polling the change feed only: %s", exc)
            self._listener = None

    async def _relisten(self) -> None:
        """The LISTEN connection was dropped (say, terminated by the server) or never made:
        open it again, at most every few seconds; meanwhile the follower polls."""
        now = time.monotonic()
        if now - self._listen_tried_at < RELISTEN_SECONDS:
            return
        self._listen_tried_at = now
        await self.stop()
        await self._listen()

    def _notified(self, *args: Any) -> None:
        self._wake.set()

    async def after(self, seq: int, limit: int) -> Sequence[ChangeEntry]:
        async with self._database.unit() as uow:
            return await ChangeRepository(uow.session).after(seq, limit)

    async def head(self) -> int:
        async with self._database.unit() as uow:
            return await ChangeRepository(uow.session).head()

    async def changed_at(self, seq: int) -> datetime | None:
        async with self._database.unit() as uow:
            return await ChangeRepository(uow.session).changed_at(seq)

    async def wait(self, seconds: float) -> None:
        if self._database.postgresql and (self._listener is None or self._listener.is_closed()):
            await self._relisten()
        # Not asyncio.wait_for: on Python 3.11 it can swallow a cancellation that arrives as
        # the wait ends, and a follower's loop then ran on for ever while its stop awaited it.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        self._wake.clear()
