"""All SQL of the change feed.

Sequence numbers must appear in commit order, or a follower that has read up to seq 11 would
never see a transaction that took seq 10 but committed later. On PostgreSQL every writer
therefore takes a transaction-scoped advisory lock before appending, so appends are
serialized until commit; SQLite serializes writers anyway. The same transaction sends a
NOTIFY, which PostgreSQL delivers at commit, to wake followers at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, Text, cast, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from hashshare.changes.entry import ChangeEntry
from hashshare.changes.models import Change
from hashshare.db import executemany, is_postgresql, labels_from_json, labels_json, stored_form

CHANGES: Table = Change.__table__  # type: ignore[assignment]
NOTIFY_CHANNEL = "hashshare_changes"
# Arbitrary, fixed key of the advisory lock that orders appends ("hsfeed" in ASCII).
FEED_LOCK_KEY = 0x68736665_6564
# unnest keeps the order of the arrays, so sequence numbers follow the order of the rows.
_PG_APPEND = text(
    """
    INSERT INTO changes (hash_id, signal_type, value, status, labels, contributors, changed_at)
    SELECT t.hash_id, t.signal_type, t.value, t.status, CAST(t.labels AS json), t.contributors,
           t.changed_at
    FROM unnest(CAST(:hash_ids AS bigint[]), CAST(:signal_types AS varchar[]),
                CAST(:hash_values AS bytea[]), CAST(:statuses AS varchar[]),
                CAST(:labels AS text[]), CAST(:contributors AS integer[]),
                CAST(:changed_ats AS timestamptz[]))
         AS t(hash_id, signal_type, value, status, labels, contributors, changed_at)
    """
)
_SQLITE_APPEND = """
    INSERT INTO changes (hash_id, signal_type, value, status, labels, contributors, changed_at)
    VALUES (?, ?, ?, ?, ?, ?, ?)
"""
# Labels as their JSON text, decoded once per distinct text (`labels_from_json`): a page of
# the feed after a bulk submission holds thousands of entries with the same few label sets.
_COLUMNS = (
    Change.seq,
    Change.hash_id,
    Change.signal_type,
    Change.value,
    Change.status,
    cast(Change.labels, Text),
    Change.contributors,
    Change.changed_at,
)


class ChangeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.postgresql = is_postgresql(session)

    async def lock_for_append(self) -> None:
        """Take now the lock that orders writers of the shared set, until commit.

        Every transaction that changes hashes takes it first (a submission, a retraction,
        feedback, a resolution), so writers never hold rows another one waits for while
        waiting for this lock: no deadlock between two batches that share values in
        different orders, or between a batch and a retraction, and no two submissions
        counting the same hash's contributions at once. PostgreSQL: the advisory lock that
        appends take. SQLite: the database's write lock (one writer at a time anyway), taken
        here rather than at the first write, so that what a submission reads before writing
        is not stale.
        """
        if self.postgresql:
            await self.session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": FEED_LOCK_KEY}
            )
        else:
            await self.session.execute(text("UPDATE changes SET seq = seq WHERE 0"))

    async def append(self, entries: Sequence[ChangeEntry]) -> None:
        """Append entries to the feed, in order."""
        if not entries:
            return
        if self.postgresql:
            await self.lock_for_append()  # a no-op when this transaction holds it already
            await self.session.execute(
                text("SELECT pg_notify(:channel, '')"), {"channel": NOTIFY_CHANNEL}
            )
            # Rows as arrays: one statement (and one plan) whatever the batch size.
            await self.session.execute(
                _PG_APPEND,
                {
                    "hash_ids": [entry.hash_id for entry in entries],
                    "signal_types": [entry.signal_type for entry in entries],
                    "hash_values": [entry.value for entry in entries],
                    "statuses": [entry.status for entry in entries],
                    "labels": [labels_json(entry.labels) for entry in entries],
                    "contributors": [entry.contributors for entry in entries],
                    "changed_ats": [entry.changed_at for entry in entries],
                },
            )
            return
        # SQLite: a plain executemany, its values already in stored form (SQLAlchemy's
        # per-row type processing of 10,000 entries cost more than inserting them).
        stamps: dict[datetime, Any] = {}
        rows = []
        for entry in entries:
            stamp = stamps.get(entry.changed_at)
            if stamp is None:
                stamp = stamps[entry.changed_at] = stored_form(
                    self.session, CHANGES.c.changed_at, entry.changed_at
                )
            rows.append(
                (
                    entry.hash_id,
                    entry.signal_type,
                    entry.value,
                    entry.status,
                    labels_json(entry.labels),
                    entry.contributors,
                    stamp,
                )
            )
        await executemany(self.session, _SQLITE_APPEND, rows)

    async def head(self) -> int:
        """The highest sequence number (0 when the feed is empty)."""
        return int(await self.session.scalar(select(func.coalesce(func.max(Change.seq), 0))) or 0)

    async def after(self, seq: int, limit: int) -> list[ChangeEntry]:
        query = select(*_COLUMNS).where(Change.seq > seq).order_by(Change.seq).limit(limit)
        return await self._entries(query)

    async def of_hash(self, hash_id: int) -> list[ChangeEntry]:
        """Every entry of one hash, in feed order (an index lookup on `hash_id`)."""
        query = select(*_COLUMNS).where(Change.hash_id == hash_id).order_by(Change.seq)
        return await self._entries(query)

    async def _entries(self, query: Any) -> list[ChangeEntry]:
        return [
            ChangeEntry(
                hash_id=hash_id,
                signal_type=signal_type,
                value=value,
                status=status,
                labels=labels_from_json(labels),
                contributors=contributors,
                changed_at=changed_at,
                seq=entry_seq,
            )
            for (
                entry_seq,
                hash_id,
                signal_type,
                value,
                status,
                labels,
                contributors,
                changed_at,
            ) in await self.session.execute(query)
        ]

    async def changed_at(self, seq: int) -> datetime | None:
        return await self.session.scalar(select(Change.changed_at).where(Change.seq == seq))
