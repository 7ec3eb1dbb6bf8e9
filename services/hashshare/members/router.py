"""HTTP routes of member administration (scope `admin`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from hashshare.auth.principal import Principal
from hashshare.auth.scopes import Scope
from hashshare.deps import Members, UoW, require_scope
from hashshare.errors import ERROR_RESPONSES, ErrorBody
from hashshare.members.schemas import MemberCreate, MemberList, MemberOut

router = APIRouter(prefix="/v1/members", tags=["members"], responses=ERROR_RESPONSES)


@router.get("", response_model=MemberList, summary="List members")
async def list_members(
    principal: Annotated[Principal, require_scope(Scope.ADMIN)], members: Members, uow: UoW
) -> MemberList:
    return MemberList(members=[MemberOut.model_validate(m) for m in await members.list(uow)])


@router.post(
    "",
    response_model=MemberOut,
    status_code=201,
    responses={409: {"model": ErrorBody, "description": "`member_exists`."}},
    summary="Add a member",
)
async def add_member(
    body: MemberCreate,
    principal: Annotated[Principal, require_scope(Scope.ADMIN)],
    members: Members,
    uow: UoW,
) -> MemberOut:
    member = await members.add(uow, principal.actor, body.id, body.name)
    return MemberOut.model_validate(member)
