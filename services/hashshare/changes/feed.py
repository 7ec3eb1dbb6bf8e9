"""Reading the change feed for a member (`GET /v1/changes`): an optional bounded long-poll,
and an audit event for every read (who read, from and to which sequence number).

A long-poll holds no database connection while it waits: it waits on the process's
`FeedWatch` first and reads the page once the feed has moved past the cursor (or the wait
is over). The audit event goes through the group-committing `AuditWriter`, so an edge that
polls costs a share of a transaction, not one of its own.
"""

from __future__ import annotations

from hashshare.audit.writer import AuditWriter
from hashshare.auth.principal import Principal
from hashshare.changes.schemas import ChangePage
from hashshare.changes.service import ChangeService
from hashshare.changes.watch import FeedWatch
from hashshare.db import Database

READ_ACTION = "changes.read"


class FeedReader:
    def __init__(
        self,
        database: Database,
        changes: ChangeService,
        audit: AuditWriter,
        watch: FeedWatch,
        max_wait_seconds: float,
    ) -> None:
        self._database = database
        self._changes = changes
        self._audit = audit
        self._watch = watch
        self.max_wait_seconds = max_wait_seconds

    async def read(self, principal: Principal, after: int, limit: int, wait: float) -> ChangePage:
        """Up to `limit` changes after `after`; with `wait`, first wait (at most the
        configured ceiling) for the feed to move past `after`."""
        if wait > 0:
            await self._watch.wait_past(after, min(wait, self.max_wait_seconds))
        async with self._database.unit() as uow:
            page = await self._changes.page(uow, after, limit)
        await self._audit.record(
            principal.actor,
            READ_ACTION,
            details={
                "from_seq": after,
                "to_seq": int(page.next_cursor),
                "changes": len(page.changes),
            },
        )
        return page
