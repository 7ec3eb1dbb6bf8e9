"""All SQL of members and token revocations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hashshare.members.models import Member, TokenRevocation


class MemberRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, member_id: str) -> Member | None:
        return await self.session.get(Member, member_id)

    async def list_all(self) -> Sequence[Member]:
        return (await self.session.scalars(select(Member).order_by(Member.id))).all()

    async def add(self, member: Member) -> Member:
        self.session.add(member)
        await self.session.flush()
        return member

    async def standings(self) -> list[tuple[str, bool]]:
        """Every member's id and whether it is active (not suspended)."""
        rows = await self.session.execute(select(Member.id, Member.active))
        return [(member_id, active) for member_id, active in rows]

    async def revocations(self) -> tuple[list[str], dict[str, datetime]]:
        """Revoked token ids, and per member the latest "issued before" cut-off."""
        jtis = await self.session.scalars(
            select(TokenRevocation.jti).where(TokenRevocation.jti.is_not(None))
        )
        cutoffs = await self.session.execute(
            select(TokenRevocation.member_id, func.max(TokenRevocation.issued_before))
            .where(TokenRevocation.member_id.is_not(None))
            .group_by(TokenRevocation.member_id)
        )
        return [jti for jti in jtis if jti is not None], {
            member_id: cutoff for member_id, cutoff in cutoffs if member_id and cutoff
        }

    async def jti_revoked(self, jti: str) -> bool:
        found = await self.session.scalar(
            select(TokenRevocation.id).where(TokenRevocation.jti == jti)
        )
        return found is not None

    async def add_revocation(self, revocation: TokenRevocation) -> TokenRevocation:
        self.session.add(revocation)
        await self.session.flush()
        return revocation
