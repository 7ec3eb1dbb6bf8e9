"""Recording audit events.

`record` writes into the caller's transaction, so an action and its record commit together
or not at all. `record_standalone` is for refusals (bad token, missing scope, rejected input),
whose own transaction was rolled back or never began.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hashshare.audit.models import AuditEvent
from hashshare.audit.repository import AuditRepository


class Outcome(StrEnum):
    OK = "ok"
    REJECTED = "rejected"
    DENIED = "denied"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted: the token subject, the member it speaks for, and the request."""

    sub: str | None
    member_id: str | None
    request_id: str | None


async def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    outcome: Outcome = Outcome.OK,
    target_ids: Iterable[int] = (),
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        actor=actor.sub,
        member_id=actor.member_id,
        request_id=actor.request_id,
        action=action,
        outcome=outcome.value,
        target_ids=sorted(set(target_ids)),
        details=details or {},
    )
    return await AuditRepository(session).append(event)


async def record_standalone(
    session_factory: async_sessionmaker[AsyncSession],
    actor: Actor,
    action: str,
    outcome: Outcome,
    details: dict[str, Any] | None = None,
) -> None:
    async with session_factory() as session, session.begin():
        await record(session, actor, action, outcome, details=details)
