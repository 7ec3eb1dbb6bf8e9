"""What one running app holds: created in the lifespan, kept on `app.state.runtime`."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from hashshare.audit.writer import AuditWriter
from hashshare.auth.tokens import TokenVerifier
from hashshare.config import Settings
from hashshare.matching.holder import IndexHolder
from hashshare.members.models import Member


class MemberDirectory:
    """Answers "is this member active?", trusting a yes for a few seconds.

    Tokens are verified on every request; remembering known members keeps the match path
    free of a database round trip. A "no" is never cached, so a new member works at once.
    """

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], ttl: float) -> None:
        self._session_factory = session_factory
        self._ttl = ttl
        self._active_until: dict[str, float] = {}

    async def is_active(self, member_id: str) -> bool:
        now = time.monotonic()
        if self._active_until.get(member_id, 0.0) > now:
            return True
        async with self._session_factory() as session:
            member = await session.get(Member, member_id)
        if member is not None and member.active:
            self._active_until[member_id] = now + self._ttl
            return True
        self._active_until.pop(member_id, None)
        return False


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    verifier: TokenVerifier
    members: MemberDirectory
    indexes: IndexHolder
    audit: AuditWriter
