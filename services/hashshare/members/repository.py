"""All SQL of members."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hashshare.members.models import Member


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
