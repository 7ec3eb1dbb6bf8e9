"""All SQL of the audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from hashshare.audit.chain import link
from hashshare.audit.models import AuditCheckpoint, AuditEvent, AuditHead, NewEvent, chain_fields
from hashshare.db import utcnow

HEAD_ID = 1
# Appends use Core statements on the tables: no ORM objects, no session synchronisation.
AUDIT_EVENTS: Table = AuditEvent.__table__  # type: ignore[assignment]
AUDIT_HEAD: Table = AuditHead.__table__  # type: ignore[assignment]
_COLUMNS = tuple(column.name for column in AUDIT_EVENTS.columns)
# Built once: an append runs for every match request, and building a statement (coercing its
# clauses, then deriving its cache key) cost more than running it on SQLite.
_ADVANCE_HEAD = (
    update(AUDIT_HEAD)
    .where(AUDIT_HEAD.c.id == HEAD_ID)
    .values(seq=AUDIT_HEAD.c.seq + bindparam("count"))
    .returning(AUDIT_HEAD.c.seq, AUDIT_HEAD.c.digest)
)
_INSERT_EVENTS = insert(AUDIT_EVENTS)
_SET_HEAD_DIGEST = (
    update(AUDIT_HEAD).where(AUDIT_HEAD.c.id == HEAD_ID).values(digest=bindparam("new_digest"))
)


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def append(self, event: NewEvent) -> NewEvent:
        await self.append_many([event])
        return event

    async def append_many(self, events: Sequence[NewEvent]) -> None:
        await append_events(self.session, events)

    async def head(self) -> tuple[int, str]:
        row = (
            await self.session.execute(
                select(AuditHead.seq, AuditHead.digest).where(AuditHead.id == HEAD_ID)
            )
        ).one()
        return int(row[0]), str(row[1])

    async def lock_head(self) -> tuple[int, str]:
        """The head, locked until the transaction ends (as an append locks it): what is
        signed under the lock is the head, and concurrent signers queue up."""
        row = (
            await self.session.execute(
                update(AUDIT_HEAD)
                .where(AUDIT_HEAD.c.id == HEAD_ID)
                .values(seq=AUDIT_HEAD.c.seq)
                .returning(AUDIT_HEAD.c.seq, AUDIT_HEAD.c.digest)
            )
        ).one()
        return int(row[0]), str(row[1])

    async def add_checkpoint(self, checkpoint: AuditCheckpoint) -> None:
        self.session.add(checkpoint)
        await self.session.flush()

    async def latest_checkpoint(self, trigger: str | None = None) -> AuditCheckpoint | None:
        query = select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)
        if trigger is not None:
            query = query.where(AuditCheckpoint.trigger == trigger)
        return (await self.session.scalars(query)).first()

    async def list_checkpoints(
        self, *, before_id: int | None, limit: int
    ) -> Sequence[AuditCheckpoint]:
        """Newest first; `before_id` is the cursor (exclusive)."""
        query = select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(AuditCheckpoint.id < before_id)
        return (await self.session.scalars(query)).all()

    async def stream(self, batch: int = 1000) -> AsyncIterator[AuditEvent]:
        """Every event in sequence order, a batch at a time (constant memory)."""
        after = 0
        while True:
            query = select(AuditEvent).where(AuditEvent.id > after).order_by(AuditEvent.id)
            events = (await self.session.scalars(query.limit(batch))).all()
            for event in events:
                yield event
            if len(events) < batch:
                return
            after = events[-1].id
            self.session.expunge_all()

    async def list_events(
        self,
        *,
        member_id: str | None,
        action: str | None,
        since: datetime | None,
        until: datetime | None,
        before_id: int | None,
        limit: int,
        outcome: str | None = None,
    ) -> Sequence[AuditEvent]:
        """Newest first; `before_id` is the cursor (exclusive)."""
        query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
        if member_id is not None:
            query = query.where(AuditEvent.member_id == member_id)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        if outcome is not None:
            query = query.where(AuditEvent.outcome == outcome)
        if since is not None:
            query = query.where(AuditEvent.occurred_at >= since)
        if until is not None:
            query = query.where(AuditEvent.occurred_at < until)
        if before_id is not None:
            query = query.where(AuditEvent.id < before_id)
        return (await self.session.scalars(query)).all()


async def append_events(
    executor: AsyncSession | AsyncConnection, events: Sequence[NewEvent]
) -> None:
    """Chain and insert events, in order, in the executor's transaction (a request's session,
    or the AuditWriter's own connection).

    The UPDATE of the single head row comes first: it locks that row on PostgreSQL (and
    the whole database on SQLite) until the transaction ends, so concurrent appends queue
    up, take consecutive sequence numbers in commit order, and cannot fork the chain.
    """
    if not events:
        return
    last, digest = (await executor.execute(_ADVANCE_HEAD, {"count": len(events)})).one()
    now = utcnow()
    rows = []
    for seq, event in enumerate(events, start=last - len(events) + 1):
        event.id = seq
        event.occurred_at = event.occurred_at or now
        event.target_ids = sorted(set(event.target_ids))
        digest = event.digest = link(digest, chain_fields(event))
        rows.append({column: getattr(event, column) for column in _COLUMNS})
    # A Core insert of plain rows: new events are never loaded back into a session, and ORM
    # objects and their unit of work would cost more than the insert itself.
    await executor.execute(_INSERT_EVENTS, rows)
    await executor.execute(_SET_HEAD_DIGEST, {"new_digest": digest})
