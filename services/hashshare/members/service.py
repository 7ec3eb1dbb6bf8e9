"""Members: adding and listing them, and the operator's controls over them (suspending and
reactivating a member, revoking tokens). Every change is an audited admin action; the
service processes learn of it through `members.access`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from hashshare.audit.service import record
from hashshare.auth.principal import Actor
from hashshare.auth.tokens import MAX_JTI_LENGTH
from hashshare.db import UnitOfWork, utcnow
from hashshare.errors import Conflict, NotFound, ValidationFailed
from hashshare.members.models import Member, TokenRevocation
from hashshare.members.repository import MemberRepository
from hashshare.members.schemas import MEMBER_ID_PATTERN


class MemberService:
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

    async def _existing(self, uow: UnitOfWork, member_id: str) -> Member:
        member = await MemberRepository(uow.session).get(member_id)
        if member is None:
            raise NotFound(f"no member {member_id!r}", code="member_not_found")
        return member

    async def suspend(
        self, uow: UnitOfWork, actor: Actor, member_id: str, reason: str | None
    ) -> bool:
        """Suspend a member: every token of it is refused. False if it already was."""
        member = await self._existing(uow, member_id)
        if not member.active:
            return False
        member.active = False
        member.suspended_at = utcnow()
        await uow.session.flush()
        await record(
            uow.session, actor, "member.suspend", details={"member": member_id, "reason": reason}
        )
        return True

    async def reactivate(self, uow: UnitOfWork, actor: Actor, member_id: str) -> bool:
        """Lift a suspension. False if the member was not suspended."""
        member = await self._existing(uow, member_id)
        if member.active:
            return False
        member.active = True
        member.suspended_at = None
        await uow.session.flush()
        await record(uow.session, actor, "member.reactivate", details={"member": member_id})
        return True

    async def revoke_token(
        self, uow: UnitOfWork, actor: Actor, jti: str, reason: str | None
    ) -> bool:
        """Revoke the token whose `jti` claim is `jti`. False if it already was."""
        if not jti or len(jti) > MAX_JTI_LENGTH or not jti.isprintable():
            raise ValidationFailed(
                f"a token id is 1-{MAX_JTI_LENGTH} printable characters", code="invalid_jti"
            )
        repository = MemberRepository(uow.session)
        if await repository.jti_revoked(jti):
            return False
        await repository.add_revocation(TokenRevocation(jti=jti, revoked_by=actor.sub or ""))
        await record(uow.session, actor, "token.revoke", details={"jti": jti, "reason": reason})
        return True

    async def revoke_issued_before(
        self,
        uow: UnitOfWork,
        actor: Actor,
        member_id: str,
        issued_before: datetime,
        reason: str | None,
    ) -> None:
        """Revoke every token of a member issued before `issued_before` (its `iat`)."""
        if issued_before.tzinfo is None:
            raise ValidationFailed(
                "the time must say its zone (e.g. 2026-12-07T12:00:00Z)", code="invalid_time"
            )
        await self._existing(uow, member_id)
        await MemberRepository(uow.session).add_revocation(
            TokenRevocation(
                member_id=member_id, issued_before=issued_before, revoked_by=actor.sub or ""
            )
        )
        await record(
            uow.session,
            actor,
            "token.revoke",
            details={
                "member": member_id,
                "issued_before": issued_before.isoformat(),
                "reason": reason,
            },
        )
