"""Who may call right now: active and suspended members, and revoked tokens.

Every authenticated request asks, and the answer comes from memory (a set lookup, no database
round trip). Each process re-reads the members table and the revocations table, both small,
every `refresh_seconds`: a suspension or revocation made anywhere (the command line, another
replica) takes effect on every process within that window. A member this process has not seen
yet is looked up in the database at once, so a member added a moment ago can call at once.
If the database cannot be read, the last list is kept (and the failure logged).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from hashshare.auth.tokens import TokenClaims
from hashshare.db import Database
from hashshare.errors import AuthenticationError, PermissionDenied
from hashshare.members.repository import MemberRepository
from hashshare.periodic import Periodic


@dataclass(frozen=True, slots=True)
class AccessList:
    """One reading of the members and revocations tables."""

    active: frozenset[str] = frozenset()
    suspended: frozenset[str] = frozenset()
    revoked_jtis: frozenset[str] = frozenset()
    # member -> POSIX time: that member's tokens issued before it are revoked.
    revoked_before: Mapping[str, float] = field(default_factory=dict)

    def revoked(self, claims: TokenClaims) -> bool:
        if claims.jti is not None and claims.jti in self.revoked_jtis:
            return True
        return claims.issued_at < self.revoked_before.get(claims.member, -math.inf)


async def read_access_list(database: Database) -> AccessList:
    async with database.unit() as uow:
        repository = MemberRepository(uow.session)
        # Revocations first: the order in which a TRUNCATE or a schema change naming both
        # tables (referencing table first) locks them, so the two cannot deadlock.
        jtis, cutoffs = await repository.revocations()
        standings = await repository.standings()
    return AccessList(
        active=frozenset(member for member, active in standings if active),
        suspended=frozenset(member for member, active in standings if not active),
        revoked_jtis=frozenset(jtis),
        revoked_before={member: cutoff.timestamp() for member, cutoff in cutoffs.items()},
    )


def suspended_member(member_id: str) -> PermissionDenied:
    return PermissionDenied(f"member {member_id!r} is suspended", code="member_suspended")


class AccessControl:
    """The in-memory access list of one process, refreshed in the background."""

    def __init__(self, database: Database, refresh_seconds: float) -> None:
        self._database = database
        self.current = AccessList()
        self.refreshed_at = time.monotonic()
        self._refresher = Periodic("access-list refresh", refresh_seconds, self.refresh)

    async def admit(self, claims: TokenClaims) -> None:
        """Raise the refusal of a verified token, if it has one."""
        access = self.current
        if access.revoked(claims):
            raise AuthenticationError("this token has been revoked", code="token_revoked")
        member = claims.member
        if member in access.active:
            return
        if member in access.suspended:
            raise suspended_member(member)
        await self._admit_unseen(member)

    async def _admit_unseen(self, member_id: str) -> None:
        async with self._database.unit() as uow:
            member = await MemberRepository(uow.session).get(member_id)
        if member is None:
            raise AuthenticationError("token names an unknown member", code="unknown_member")
        if not member.active:
            raise suspended_member(member_id)
        self.current = replace(self.current, active=self.current.active | {member_id})

    async def refresh(self) -> None:
        self.current = await read_access_list(self._database)
        self.refreshed_at = time.monotonic()

    def age(self) -> float:
        """Seconds since the list was last read: far above the refresh interval, suspensions
        and revocations are not reaching this process."""
        return time.monotonic() - self.refreshed_at

    async def start(self) -> None:
        """Read the list once (a suspended member is refused from the first request), then
        keep it fresh."""
        await self.refresh()
        self._refresher.start()

    async def stop(self) -> None:
        await self._refresher.stop()
