"""Adding and listing members; adding is an audited admin action."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from hashshare.audit.service import Actor, record
from hashshare.errors import Conflict, ValidationFailed
from hashshare.members.models import Member
from hashshare.members.repository import MemberRepository
from hashshare.members.schemas import MEMBER_ID_PATTERN


async def add_member(session: AsyncSession, actor: Actor, member_id: str, name: str) -> Member:
    if not re.fullmatch(MEMBER_ID_PATTERN, member_id):
        raise ValidationFailed(
            "member id must be 1-64 characters of a-z, 0-9, '.', '_' or '-'",
            code="invalid_member_id",
        )
    if not name.strip():
        raise ValidationFailed("member name must not be empty", code="invalid_member_name")
    repository = MemberRepository(session)
    if await repository.get(member_id) is not None:
        raise Conflict(f"member {member_id!r} already exists", code="member_exists")
    member = await repository.add(Member(id=member_id, name=name.strip()))
    await record(session, actor, "member.add", details={"member": member_id, "name": member.name})
    return member


async def list_members(session: AsyncSession) -> Sequence[Member]:
    return await MemberRepository(session).list_all()
