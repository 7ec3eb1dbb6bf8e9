"""Recording audit events.

`record` writes into the caller's transaction, so an action and its record commit together
or not at all. Events of requests without a transaction of their own (matches, refusals) go
through `audit.writer.AuditWriter`, which commits them in batches.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hashshare.audit.chain import ChainVerifier, Verdict, format_time
from hashshare.audit.checkpoint import ALGORITHM, VERSION, CheckpointSigner
from hashshare.audit.models import AuditCheckpoint, AuditEvent, NewEvent, chain_fields
from hashshare.audit.repository import AuditRepository
from hashshare.audit.schemas import (
    AuditEventOut,
    AuditPage,
    ChainVerdict,
    CheckpointOut,
    CheckpointPage,
    PublishedCheckpoint,
)
from hashshare.auth.principal import Actor
from hashshare.db import Database, UnitOfWork, utcnow
from hashshare.errors import NotFound


class Outcome(StrEnum):
    OK = "ok"
    REJECTED = "rejected"
    DENIED = "denied"


def new_event(
    actor: Actor,
    action: str,
    outcome: Outcome = Outcome.OK,
    target_ids: Iterable[int] = (),
    details: dict[str, Any] | None = None,
) -> NewEvent:
    """An event not yet chained (the repository gives it its sequence and digest)."""
    return NewEvent(
        actor=actor.sub,
        member_id=actor.member_id,
        request_id=actor.request_id,
        action=action,
        outcome=outcome.value,
        target_ids=sorted(set(target_ids)),
        details=details or {},
    )


async def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    outcome: Outcome = Outcome.OK,
    target_ids: Iterable[int] = (),
    details: dict[str, Any] | None = None,
) -> NewEvent:
    event = new_event(actor, action, outcome, target_ids, details)
    return await AuditRepository(session).append(event)


def export_record(event: AuditEvent) -> dict[str, Any]:
    """An event as exported (JSON Lines): the chained fields plus its digest."""
    record = chain_fields(event)
    record["occurred_at"] = format_time(event.occurred_at)
    record["digest"] = event.digest
    return record


async def export_lines(session: AsyncSession) -> AsyncIterator[str]:
    """The whole log as JSON Lines, oldest first, in constant memory."""
    async for event in AuditRepository(session).stream():
        yield json.dumps(export_record(event), sort_keys=True, ensure_ascii=False) + "\n"


class AuditService:
    """Reading, exporting and verifying the audit log."""

    def __init__(
        self, database: Database, read_database: Database, signer: CheckpointSigner | None = None
    ) -> None:
        self._database = database  # the primary: scheduled checkpoints write
        self._read_database = read_database
        self._signer = signer

    def _require_signer(self) -> CheckpointSigner:
        if self._signer is None:
            raise NotFound(
                "audit checkpoints are not configured: set HASHSHARE_CHECKPOINT_KEY_FILE",
                code="checkpoints_not_configured",
            )
        return self._signer

    async def checkpoint(self, uow: UnitOfWork, actor: Actor) -> CheckpointOut:
        """Sign the chain's current head and publish it; the request is recorded (after the
        head it signs)."""
        signer = self._require_signer()
        published = await _publish(uow.session, signer, actor, "request")
        return CheckpointOut(**published.model_dump(), public_key=signer.public_key_pem())

    async def publish_if_due(self, interval: timedelta, first_due: datetime) -> timedelta:
        """Publish a scheduled checkpoint if the last one (of any replica) is `interval` old,
        or, before any, once `first_due` has come; return how long until the next is due."""
        signer = self._require_signer()

        async def wait(repository: AuditRepository) -> timedelta:
            latest = await repository.latest_checkpoint(SCHEDULE)
            return (first_due if latest is None else latest.issued_at + interval) - utcnow()

        async with self._database.unit() as uow:  # a read: no lock until one is due
            due = await wait(AuditRepository(uow.session))
        if due > timedelta(0):
            return due
        async with self._database.unit() as uow:
            repository = AuditRepository(uow.session)
            await repository.lock_head()  # replicas due at once take turns here
            due = await wait(repository)
            if due > timedelta(0):  # another replica has just published it
                return due
            await _publish(uow.session, signer, SCHEDULER, SCHEDULE)
        return interval

    async def latest_checkpoint(self, uow: UnitOfWork) -> PublishedCheckpoint:
        latest = await AuditRepository(uow.session).latest_checkpoint()
        if latest is None:
            self._require_signer()
            raise NotFound("no checkpoint has been published yet", code="no_checkpoint")
        return _published(latest)

    async def checkpoints(
        self, uow: UnitOfWork, *, before_id: int | None, limit: int
    ) -> CheckpointPage:
        """Published checkpoints newest first, from before the cursor `before_id`."""
        found = await AuditRepository(uow.session).list_checkpoints(
            before_id=before_id, limit=limit
        )
        return CheckpointPage(
            checkpoints=[_published(each) for each in found],
            next_cursor=str(found[-1].id) if len(found) == limit else None,
        )

    async def page(
        self,
        uow: UnitOfWork,
        *,
        member_id: str | None,
        action: str | None,
        since: datetime | None,
        until: datetime | None,
        before_id: int | None,
        limit: int,
        outcome: str | None = None,
    ) -> AuditPage:
        """Events newest first, filtered, from before the cursor `before_id`."""
        events = await AuditRepository(uow.session).list_events(
            member_id=member_id,
            action=action,
            since=since,
            until=until,
            before_id=before_id,
            limit=limit,
            outcome=outcome,
        )
        next_cursor = str(events[-1].id) if len(events) == limit else None
        return AuditPage(
            events=[AuditEventOut.model_validate(event) for event in events],
            next_cursor=next_cursor,
        )

    async def verify(self, uow: UnitOfWork) -> ChainVerdict:
        verdict = await verify_log(uow.session)
        return ChainVerdict(**verdict.as_dict())

    async def export(self) -> AsyncIterator[str]:
        """The whole log as JSON Lines, in a transaction of its own (a response streams after
        the request's unit of work has ended), on the read database."""
        async with self._read_database.unit() as uow:
            async for line in export_lines(uow.session):
                yield line


SCHEDULE = "schedule"
SCHEDULER = Actor("hashshare-checkpoint-schedule", None, None)


async def _publish(
    session: AsyncSession, signer: CheckpointSigner, actor: Actor, trigger: str
) -> PublishedCheckpoint:
    """Sign the head (locked, so it is the head when the event below is appended), record
    the event and keep the checkpoint."""
    repository = AuditRepository(session)
    seq, digest = await repository.lock_head()
    issued_at = utcnow()
    checkpoint = signer.sign(seq, digest, issued_at)
    await record(
        session,
        actor,
        "audit.checkpoint",
        details={
            "seq": seq,
            "head_digest": digest,
            "key_id": checkpoint.key_id,
            "trigger": trigger,
        },
    )
    stored = AuditCheckpoint(
        seq=seq,
        head_digest=digest,
        issued_at=issued_at,
        key_id=checkpoint.key_id,
        signature=checkpoint.signature,
        trigger=trigger,
    )
    await repository.add_checkpoint(stored)
    return _published(stored)


def _published(stored: AuditCheckpoint) -> PublishedCheckpoint:
    return PublishedCheckpoint(
        id=stored.id,
        trigger=stored.trigger,
        version=VERSION,
        algorithm=ALGORITHM,
        seq=stored.seq,
        head_digest=stored.head_digest,
        issued_at=format_time(stored.issued_at),
        key_id=stored.key_id,
        signature=stored.signature,
    )


async def verify_log(session: AsyncSession) -> Verdict:
    """Recompute the chain over the stored log and compare its end with the head row."""
    verifier = ChainVerifier()
    async for event in AuditRepository(session).stream():
        if not verifier.feed(export_record(event)):
            return verifier.verdict()
    verdict = verifier.verdict()
    head_seq, head_digest = await AuditRepository(session).head()
    if (head_seq, head_digest) != (verdict.head_seq, verdict.head_digest):
        return Verdict(
            False,
            verdict.events,
            verdict.head_seq,
            verdict.head_digest,
            verdict.head_seq + 1,
            f"the log ends at event {verdict.head_seq} but its head records event {head_seq}: "
            "events were removed or the head was altered",
        )
    return verdict
