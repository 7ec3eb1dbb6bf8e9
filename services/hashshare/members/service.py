"""Members: adding and listing them (adding is an audited admin action), and the question
every request asks, "is this member active?"."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

from hashshare.audit.service import record
from hashshare.auth.principal import Actor
from hashshare.db import Database, UnitOfWork
from hashshare.errors import Conflict, ValidationFailed
from hashshare.members.models import Member
from hashshare.members.repository import MemberRepository
from hashshare.members.schemas import MEMBER_ID_PATTERN


class MemberService:
    def __init__(self, database: Database, active_ttl: float) -> None:
        self._database = database
        self._ttl = active_ttl
        self._active_until: dict[str, float] = {}

    async def add(self, uow: UnitOfWork, actor: Actor, member_id: str, name: str) -> Member:
        if not re.fullmatch(MEMBER_ID_PATTERN, member_id):
            raise ValidationFailed(
                "member id must be 1-64 characters of a-z, 0-9, '.', '_' or '-'",
                code="invalid_member_id",
            )
        if not name.strip():
            raise ValidationFailed("member name must not be empty", code="invalid_member_name")
        repository = MemberRepository(uow.session)
        if await repository.get(member_id) is not None:
            raise Conflict(f"member {member_id!r} already exists", code="member_exists")
        member = await repository.add(Member(id=member_id, name=name.strip()))
        await record(
            uow.session, actor, "member.add", details={"member": member_id, "name": member.name}
        )
        return member

    async def list(self, uow: UnitOfWork) -> Sequence[Member]:
        return await MemberRepository(uow.session).list_all()

    async def get(self, uow: UnitOfWork, member_id: str) -> Member | None:
        return await MemberRepository(uow.session).get(member_id)

    async def is_active(self, member_id: str) -> bool:
        """Whether the member exists and is active, trusting a yes for `active_ttl` seconds.

        Tokens are verified on every request; remembering known members keeps the match path
        free of a database round trip. A "no" is never remembered, so a new member works at
        once.
        """
        now = time.monotonic()
        if self._active_until.get(member_id, 0.0) > now:
            return True
        async with self._database.unit() as uow:
            member = await MemberRepository(uow.session).get(member_id)
        if member is not None and member.active:
            self._active_until[member_id] = now + self._ttl
            return True
        self._active_until.pop(member_id, None)
        return False
