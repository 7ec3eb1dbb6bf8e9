"""The audit spool: where SQLite's match and refusal events wait while a write holds the lock.

SQLite lets one connection write at a time, and a bulk submission holds that lock for its
whole transaction (about half a second for 10,000 hashes). A match's event could not join
the chain meanwhile, so every match answered during a bulk load waited for it. With the
spool, `AuditWriter` tries the chain for a moment (`SPOOL_AFTER_SECONDS`); if the lock is
still held, it commits the batch to the spool instead, a SQLite file of its own beside the
database (`<database>-audit-spool`, never locked by anything else for long), and the
requests return. Their events are on disk: nothing acknowledged is lost on a crash.

The drain appends spooled events to the chain in spool order as soon as it can take the lock,
and once at every start (events spooled before a crash). While this process has spooled
events not yet drained, its later batches are spooled too, so its events reach the chain in
the order they were recorded. Each event keeps the time it was recorded (`occurred_at`); its
sequence number is the one it gets when it is appended.

Exactly once: the chain's head row holds the id of the last spool entry appended
(`audit_head.spool_mark`), set in the transaction that appends it, and entries at or below
it are deleted only after that commits. A crash between the two appends nothing twice: the
next drain skips what the mark covers. The spool's ids only grow (AUTOINCREMENT, and on
opening its counter is raised to the mark if a spool file was removed), so a new entry is
never mistaken for one already appended.

PostgreSQL needs none of this: a bulk submission there locks only its own rows and, at its
end, the head row, for the length of its commit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from hashshare.audit.models import NewEvent
from hashshare.audit.repository import AUDIT_HEAD, HEAD_ID, append_events
from hashshare.db import create_engine, is_postgresql, utcnow
from hashshare.instruments import AUDIT_SPOOL_EVENTS, labelled
from hashshare.periodic import cancel

log = logging.getLogger(__name__)

SUFFIX = "-audit-spool"
# How long a batch waits for the chain's lock before it goes to the spool: longer than the
# commit of another worker's batch of match events, far shorter than a bulk submission.
SPOOL_AFTER_SECONDS = 0.01
DRAIN_BATCH = 1000
RETRY_SECONDS = 1.0

_CREATE = (
    "CREATE TABLE IF NOT EXISTS spooled ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL)",
    # Entries the drain could not read (written by another version, say), kept for a person.
    "CREATE TABLE IF NOT EXISTS unreadable (id INTEGER PRIMARY KEY, event TEXT NOT NULL)",
)
_LOCK_MARK = (
    update(AUDIT_HEAD)
    .where(AUDIT_HEAD.c.id == HEAD_ID)
    .values(spool_mark=AUDIT_HEAD.c.spool_mark)
    .returning(AUDIT_HEAD.c.spool_mark)
)
_READ_MARK = select(AUDIT_HEAD.c.spool_mark).where(AUDIT_HEAD.c.id == HEAD_ID)


def spool_path(database_url: str) -> Path | None:
    """Where the spool of this database lives: beside a SQLite file; none for PostgreSQL or
    an in-memory database."""
    if is_postgresql(database_url):
        return None
    url = make_url(database_url)
    path = url.database
    if not path or path == ":memory:" or url.query.get("mode") == "memory":
        return None
    # One spool per database file, however a process names it (relative path, symlink):
    # the mark in the database counts the ids of exactly one spool.
    return Path(os.path.realpath(path) + SUFFIX)


def encode(event: NewEvent, now: datetime) -> str:
    """An event as the spool keeps it, with the time it was recorded (`now` unless set)."""
    return json.dumps(
        {
            "occurred_at": (event.occurred_at or now).isoformat(),
            "actor": event.actor,
            "member_id": event.member_id,
            "request_id": event.request_id,
            "action": event.action,
            "outcome": event.outcome,
            "target_ids": event.target_ids,
            "details": event.details,
        },
        ensure_ascii=False,
    )


def decode(text: str) -> NewEvent:
    fields: dict[str, Any] = json.loads(text)
    fields["occurred_at"] = datetime.fromisoformat(fields["occurred_at"])
    return NewEvent(**fields)


class AuditSpool:
    def __init__(self, path: Path, chain: AsyncEngine) -> None:
        self.path = path
        self._chain = chain  # the database, with its ordinary busy timeout
        self._engine = create_engine(f"sqlite+aiosqlite:///{path}")
        # Until a drain finds the spool empty, later batches are spooled behind what is in it.
        self.pending = True
        self._puts = 0
        self._wake = asyncio.Event()
        self._draining = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Create the spool if it is new, and start draining what an earlier run left."""
        async with self._chain.connect() as connection:
            mark = int((await connection.execute(_READ_MARK)).scalar_one())
        async with self._engine.begin() as connection:
            for statement in _CREATE:
                await connection.exec_driver_sql(statement)
            # A spool made anew (its file removed) would count its ids from 1 again.
            await connection.exec_driver_sql(
                "INSERT INTO sqlite_sequence (name, seq) SELECT 'spooled', 0"
                " WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'spooled')"
            )
            await connection.exec_driver_sql(
                "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'spooled'", (mark,)
            )
            await connection.exec_driver_sql("DELETE FROM spooled WHERE id <= ?", (mark,))
        self._task = asyncio.create_task(self._run(), name="hashshare-audit-spool")
        self._wake.set()

    async def close(self) -> None:
        """Drain what is spooled (what cannot be drained now waits for the next start)."""
        # A drain is never cancelled while it runs: cancelled while waiting for the lock, its
        # statement would still take the lock in the driver's thread, on a connection then
        # closed with its transaction open, holding the database until the process exits.
        async with self._draining:
            await cancel(self._task)
        self._task = None
        try:
            await self.drain()
        except Exception as exc:
            log.warning("audit spool: events left for the next start (%s)", exc)
        await self._engine.dispose()

    async def put(self, events: list[NewEvent]) -> None:
        """Commit events to the spool; the drain appends them to the chain."""
        now = utcnow()
        rows = [(encode(event, now),) for event in events]
        async with self._engine.begin() as connection:
            await connection.exec_driver_sql("INSERT INTO spooled (event) VALUES (?)", rows)
        self._puts += 1
        self.pending = True
        self._wake.set()
        labelled(AUDIT_SPOOL_EVENTS, "spooled").inc(len(events))

    async def drain(self) -> int:
        """Append everything spooled to the chain; return how many events were moved."""
        async with self._draining:
            moved = 0
            while True:
                puts = self._puts
                count = await self._drain_once()
                moved += count
                if count == 0:
                    if puts == self._puts:
                        self.pending = False
                    return moved

    async def _drain_once(self) -> int:
        async with self._chain.connect() as connection, connection.begin():
            mark = int((await connection.execute(_LOCK_MARK)).scalar_one())
            async with self._engine.connect() as spool:
                result = await spool.exec_driver_sql(
                    "SELECT id, event FROM spooled WHERE id > ? ORDER BY id LIMIT ?",
                    (mark, DRAIN_BATCH),
                )
                fetched: list[Any] = list(result.all())
                rows = [(int(row[0]), str(row[1])) for row in fetched]
            if not rows:
                return 0
            last = rows[-1][0]
            events = await self._readable(rows)
            await append_events(connection, events)
            await connection.execute(
                update(AUDIT_HEAD).where(AUDIT_HEAD.c.id == HEAD_ID).values(spool_mark=last)
            )
        labelled(AUDIT_SPOOL_EVENTS, "appended").inc(len(events))
        async with self._engine.begin() as spool:
            await spool.exec_driver_sql("DELETE FROM spooled WHERE id <= ?", (last,))
        return len(rows)

    async def _readable(self, rows: list[tuple[int, str]]) -> list[NewEvent]:
        """The events of `rows`; an entry that cannot be read is copied to `unreadable` (before
        the mark passes it) and reported, rather than holding up every entry after it."""
        events: list[NewEvent] = []
        unreadable: list[tuple[int, str]] = []
        for entry_id, text in rows:
            try:
                events.append(decode(text))
            except (ValueError, TypeError, KeyError) as exc:
                log.error(
                    "audit spool: entry %d of %s cannot be read (%s); it is kept in the "
                    "spool's table 'unreadable' and not appended",
                    entry_id,
                    self.path,
                    exc,
                )
                unreadable.append((entry_id, text))
        if unreadable:
            async with self._engine.begin() as spool:
                await spool.exec_driver_sql(
                    "INSERT OR IGNORE INTO unreadable (id, event) VALUES (?, ?)", unreadable
                )
            labelled(AUDIT_SPOOL_EVENTS, "unreadable").inc(len(unreadable))
        return events

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.drain()
            except Exception as exc:
                # The lock held past the busy timeout, say: try again shortly.
                log.warning("audit spool: could not drain yet (%s); retrying", exc)
                await asyncio.sleep(RETRY_SECONDS)
                self._wake.set()
