"""Group commit of audit events that have no transaction of their own.

A match changes nothing, and a refused request was rolled back: their events are handed to
the `AuditWriter`, which appends whatever has queued in one transaction and then releases
every waiting request. The request still returns only after its event is committed (nothing
is lost on a crash), but a thousand concurrent matches cost a few transactions instead of a
thousand, and the chain's head lock is taken once per batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hashshare.audit.models import NewEvent
from hashshare.audit.repository import append_events
from hashshare.audit.service import Actor, Outcome, new_event

log = logging.getLogger(__name__)


class AuditWriter:
    def __init__(self, engine: AsyncEngine, max_batch: int = 1000) -> None:
        self._engine = engine
        # One connection of its own, kept open: no pool checkout (nor its liveness ping) and no
        # ORM session per batch. A dropped connection is replaced and the batch retried once.
        self._connection: AsyncConnection | None = None
        self._max_batch = max_batch
        self._queue: list[tuple[NewEvent, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="hashshare-audit-writer")

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        while self._queue:
            await self._write_batch()
        await self._disconnect()

    async def record(
        self,
        actor: Actor,
        action: str,
        outcome: Outcome = Outcome.OK,
        target_ids: Iterable[int] = (),
        details: dict[str, Any] | None = None,
    ) -> None:
        """Append an event; return once it is committed (raises if it could not be)."""
        event = new_event(actor, action, outcome, target_ids, details)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((event, done))
        if self._task is None:  # not started (e.g. a tool using the app without lifespan)
            await self._write_batch()
        else:
            self._wake.set()
        await done

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                await self._write_batch()

    async def _write_batch(self) -> None:
        batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
        events = [event for event, _ in batch]
        try:
            try:
                await self._append(events)
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                log.warning("audit writer lost its database connection; reconnecting")
                await self._disconnect()
                await self._append(events)
        except Exception as exc:
            log.exception("could not write %d audit events", len(batch))
            await self._disconnect()
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        for _, done in batch:
            if not done.done():
                done.set_result(None)

    async def _append(self, events: list[NewEvent]) -> None:
        if self._connection is None:
            self._connection = await self._engine.connect()
        async with self._connection.begin():
            await append_events(self._connection, events)

    async def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()
