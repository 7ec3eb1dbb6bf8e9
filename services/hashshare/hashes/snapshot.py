"""`GET /v1/snapshot`: the whole matchable set at once, for a copy's first sync.

Paging the change feed replays history (every submission, retraction and status change)
one JSON object per entry; a first sync needs only the current set. The snapshot streams
it as JSON lines: a header with the feed's head *read before the rows*, then, per page of
hashes in id order and per signal type, columns (ids, the values as one hex string,
statuses, an index into the page's distinct label sets, contributors), then an end line
with the count, so a cut stream is told from a complete one. A copy loads the snapshot and
then follows the feed from the header's `head_seq`: rows that changed while the snapshot
was being read are changed again by those feed entries, which carry each hash's whole
state, so nothing is lost and applying one twice is harmless.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson

from hashshare.audit.writer import AuditWriter
from hashshare.auth.principal import Principal
from hashshare.changes.service import ChangeService
from hashshare.db import Database
from hashshare.hashes.service import HashService

FORMAT = 1
READ_ACTION = "snapshot.read"


class SnapshotService:
    def __init__(
        self,
        database: Database,
        hashes: HashService,
        changes: ChangeService,
        audit: AuditWriter,
        chunk: int = 50_000,
    ) -> None:
        self._database = database
        self._hashes = hashes
        self._changes = changes
        self._audit = audit
        self._chunk = chunk

    async def lines(self, principal: Principal) -> AsyncIterator[bytes]:
        """The snapshot as JSON lines (see the module's docstring)."""
        async with self._database.unit() as uow:
            head = await self._changes.head(uow)
            await self._audit.record(principal.actor, READ_ACTION, details={"head_seq": head})
            yield orjson.dumps({"format": FORMAT, "head_seq": head}) + b"\n"
            count = 0
            async for part in self._hashes.snapshot(uow, self._chunk):
                label_sets: dict[tuple[str, ...], int] = {}
                labels = [label_sets.setdefault(labels, len(label_sets)) for labels in part.labels]
                count += len(part.ids)
                yield (
                    orjson.dumps(
                        {
                            "signal_type": part.signal_type,
                            "hash_ids": part.ids,
                            "values": part.values.hex(),
                            "statuses": part.statuses,
                            "label_sets": list(label_sets),
                            "labels": labels,
                            "contributors": part.contributors,
                        }
                    )
                    + b"\n"
                )
            yield orjson.dumps({"end": True, "hashes": count}) + b"\n"
