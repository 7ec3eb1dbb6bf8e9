"""Group commit of audit events that have no transaction of their own.

A match changes nothing, and a refused request was rolled back: their events are handed to
the `AuditWriter`, which appends whatever has queued in one transaction and then releases
every waiting request. The request still returns only after its event is committed (nothing
is lost on a crash), but a thousand concurrent matches cost a few transactions instead of a
thousand, and the chain's head lock is taken once per batch.

On PostgreSQL two batches are in flight at once, each on its own connection: the second
waits at the head row's lock while the first commits, and goes on the moment it has, so a
request waits for about one commit rather than for the end of one batch and all of the next.
SQLite has one writer at a time (a second would sleep in its busy handler), so one batch;
and where a bulk write holds SQLite's lock for longer than a moment, a batch is committed to
the spool beside the database instead of waiting (`audit.spool`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from hashshare.audit.models import NewEvent
from hashshare.audit.repository import append_events
from hashshare.audit.service import Outcome, new_event
from hashshare.audit.spool import SPOOL_AFTER_SECONDS, AuditSpool, spool_path
from hashshare.auth.principal import Actor
from hashshare.db import create_engine, is_postgresql
from hashshare.faults import sqlite_busy
from hashshare.instruments import AUDIT_BATCH_EVENTS, AUDIT_COMMIT_SECONDS
from hashshare.periodic import cancel

log = logging.getLogger(__name__)

Batch = list[tuple[NewEvent, "asyncio.Future[None]"]]
LOCK_TIMEOUT_MS = 10_000
STATEMENT_TIMEOUT_MS = 30_000


class AuditWriter:
    def __init__(self, engine: AsyncEngine, max_batch: int = 1000) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._in_flight = 2 if is_postgresql(engine) else 1
        # SQLite's spool, opened by `start`. While it is open the writer's own connections
        # wait only a moment for the lock (`_quick`); a tool that never starts the writer
        # waits as long as any request does.
        self._spool: AuditSpool | None = None
        self._quick: AsyncEngine | None = None
        # Connections of its own, kept open: no pool checkout (nor its liveness ping) and no
        # ORM session per batch. A dropped connection is replaced and the batch retried once.
        self._idle: list[AsyncConnection] = []
        self._queue: Batch = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._writing: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        url = self._engine.url.render_as_string(hide_password=False)
        path = spool_path(url)
        if path is not None:
            spool = AuditSpool(path, self._engine)
            await spool.open()
            self._spool, self._quick = spool, create_engine(url, SPOOL_AFTER_SECONDS)
        self._task = asyncio.create_task(self._run(), name="hashshare-audit-writer")

    async def stop(self) -> None:
        """Write what is queued, drain the spool, then stop."""
        await cancel(self._task)
        self._task = None
        await asyncio.gather(*self._writing, return_exceptions=True)
        while self._queue:
            await self._write(self._take())
        connections, self._idle = self._idle, []
        for connection in connections:
            with contextlib.suppress(Exception):
                await connection.close()
        spool, quick, self._spool, self._quick = self._spool, self._quick, None, None
        if spool is not None:
            await spool.close()
        if quick is not None:
            await quick.dispose()

    async def drain_spool(self) -> int:
        """Append what waits in the spool to the chain now; how many events it moved."""
        return 0 if self._spool is None else await self._spool.drain()

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
            await self._write(self._take())
        else:
            self._wake.set()
        await done

    def _take(self) -> Batch:
        batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
        return batch

    async def _run(self) -> None:
        slots = asyncio.Semaphore(self._in_flight)

        async def write(batch: Batch) -> None:
            try:
                await self._write(batch)
            finally:
                slots.release()

        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                await slots.acquire()
                task = asyncio.create_task(write(self._take()))
                self._writing.add(task)
                task.add_done_callback(self._writing.discard)

    async def _write(self, batch: Batch) -> None:
        events = [event for event, _ in batch]
        started = time.perf_counter()
        try:
            spool = self._spool
            # Behind events already spooled, or where the chain's lock is held: the spool.
            if spool is not None and (spool.pending or not await self._append(events)):
                await spool.put(events)
            elif spool is None:
                await self._append(events)
            AUDIT_COMMIT_SECONDS.observe(time.perf_counter() - started)
            AUDIT_BATCH_EVENTS.observe(len(events))
        except Exception as exc:
            log.exception("could not write %d audit events", len(batch))
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        for _, done in batch:
            if not done.done():
                done.set_result(None)

    async def _append(self, events: list[NewEvent]) -> bool:
        """Append to the chain and commit. With a spool open, give up (False) if SQLite's
        lock is held past the moment the writer's connections wait for it."""
        connection: AsyncConnection | None = None
        try:
            connection = self._idle.pop() if self._idle else await self._connect()
            try:
                transaction = await _prepare(connection, events)
            except DBAPIError as exc:
                if self._spool is not None and sqlite_busy(exc):
                    await connection.rollback()
                    self._idle.append(connection)
                    return False
                # Only a failure before COMMIT is retried: a COMMIT whose answer was lost may
                # have been applied, and repeating it would record every event twice.
                if not exc.connection_invalidated:
                    raise
                log.warning("audit writer lost its database connection; reconnecting")
                await _close(connection)
                connection = None
                connection = await self._connect()
                transaction = await _prepare(connection, events)
            await transaction.commit()
        except Exception:
            await _close(connection)
            raise
        self._idle.append(connection)
        return True

    async def _connect(self) -> AsyncConnection:
        engine = self._quick or self._engine
        connection = await engine.connect()
        if is_postgresql(engine):
            # A batch never waits for ever: not on the head row's lock (held, say, by a stuck
            # transaction), nor on a statement. Its requests then fail instead of hanging.
            await connection.exec_driver_sql(f"SET lock_timeout = {LOCK_TIMEOUT_MS}")
            await connection.exec_driver_sql(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
            await connection.commit()
        return connection


async def _prepare(connection: AsyncConnection, events: list[NewEvent]) -> AsyncTransaction:
    """Begin a transaction and append the events in it; the caller commits."""
    transaction = await connection.begin()
    await append_events(connection, events)
    return transaction


async def _close(connection: AsyncConnection | None) -> None:
    if connection is not None:
        with contextlib.suppress(Exception):
            await connection.close()
