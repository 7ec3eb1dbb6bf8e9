"""All SQL of the change feed.

Sequence numbers must appear in commit order, or a follower that has read up to seq 11 would
never see a transaction that took seq 10 but committed later. On PostgreSQL every writer
therefore takes a transaction-scoped advisory lock before appending, so appends are
serialized until commit; SQLite serializes writers anyway. The same transaction sends a
NOTIFY, which PostgreSQL delivers at commit, to wake followers at once.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from hashshare.changes.models import Change
from hashshare.db import CHANGED_HASH_IDS

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


@functools.lru_cache(maxsize=1024)
def labels_json(labels: tuple[str, ...]) -> str:
    """The JSON text of a label list; a bulk write repeats a few of them thousands of times."""
    return json.dumps(list(labels))


class ChangeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _is_postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

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
        if self._is_postgres():
            await self.session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": FEED_LOCK_KEY}
            )
        else:
            await self.session.execute(text("UPDATE changes SET seq = seq WHERE 0"))

    async def append(self, rows: list[dict[str, Any]]) -> None:
        """Append changes (hash_id, signal_type, value, status, labels, contributors)."""
        if not rows:
            return
        self.session.info.setdefault(CHANGED_HASH_IDS, set()).update(row["hash_id"] for row in rows)
        if self._is_postgres():
            await self.lock_for_append()  # a no-op when this transaction holds it already
            await self.session.execute(
                text("SELECT pg_notify(:channel, '')"), {"channel": NOTIFY_CHANNEL}
            )
            # Rows as arrays: one statement (and one plan) whatever the batch size.
            await self.session.execute(
                _PG_APPEND,
                {
                    "hash_ids": [row["hash_id"] for row in rows],
                    "signal_types": [row["signal_type"] for row in rows],
                    "hash_values": [row["value"] for row in rows],
                    "statuses": [row["status"] for row in rows],
                    "labels": [labels_json(tuple(row["labels"])) for row in rows],
                    "contributors": [row["contributors"] for row in rows],
                    "changed_ats": [row["changed_at"] for row in rows],
                },
            )
            return
        for start in range(0, len(rows), 2000):
            await self.session.execute(insert(CHANGES), rows[start : start + 2000])

    async def head(self) -> int:
        """The highest sequence number (0 when the feed is empty)."""
        return int(await self.session.scalar(select(func.coalesce(func.max(Change.seq), 0))) or 0)

    async def after(self, seq: int, limit: int) -> Sequence[Change]:
        query = select(Change).where(Change.seq > seq).order_by(Change.seq).limit(limit)
        return (await self.session.scalars(query)).all()

    async def changed_at(self, seq: int) -> datetime | None:
        return await self.session.scalar(select(Change.changed_at).where(Change.seq == seq))
