"""The operator's controls: suspending a member and revoking tokens refuse the caller with
its own code on the next refresh of the access list, and every action is audited."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hashshare.auth.principal import Actor
from hashshare.auth.tokens import issue_token
from hashshare.config import Settings
from hashshare.errors import NotFound, ValidationFailed
from tests.conftest import Api

OPERATOR = Actor(sub="cli:operator", member_id=None, request_id=None)


async def _suspend(api: Api, member_id: str, reason: str | None = None) -> bool:
    runtime = api.app.state.runtime
    async with runtime.database.unit() as uow:
        changed: bool = await runtime.members.suspend(uow, OPERATOR, member_id, reason)
    return changed


async def _reactivate(api: Api, member_id: str) -> bool:
    runtime = api.app.state.runtime
    async with runtime.database.unit() as uow:
        changed: bool = await runtime.members.reactivate(uow, OPERATOR, member_id)
    return changed


async def _revoke_jti(api: Api, jti: str) -> bool:
    runtime = api.app.state.runtime
    async with runtime.database.unit() as uow:
        changed: bool = await runtime.members.revoke_token(uow, OPERATOR, jti, "leaked")
    return changed


async def _revoke_before(api: Api, member_id: str, before: datetime) -> None:
    runtime = api.app.state.runtime
    async with runtime.database.unit() as uow:
        await runtime.members.revoke_issued_before(uow, OPERATOR, member_id, before, None)


async def _refresh(api: Api) -> None:
    """What every process does every HASHSHARE_ACCESS_REFRESH_SECONDS."""
    await api.app.state.runtime.access.refresh()


def _token(api: Api, member: str = "alpha", iat: int | None = None, jti: str | None = None) -> str:
    return issue_token(
        api.settings,
        member=member,
        scopes=["hashes:match", "audit:read"],
        sub="pipeline",
        ttl_seconds=600,
        now=iat,
        jti=jti,
    )


async def _status(api: Api, token: str) -> tuple[int, str | None]:
    response = await api.client.get("/v1/labels", headers={"Authorization": f"Bearer {token}"})
    code = response.json()["error"]["code"] if response.status_code >= 400 else None
    return response.status_code, code


async def _events(api: Api, action: str) -> list[dict[str, Any]]:
    rows = await api.sql(
        "SELECT actor, member_id, outcome, details FROM audit_events WHERE action = :action "
        "ORDER BY id",
        action=action,
    )
    return [
        {
            "actor": actor,
            "member_id": member_id,
            "outcome": outcome,
            "details": json.loads(details) if isinstance(details, str) else details,
        }
        for actor, member_id, outcome, details in rows
    ]


async def test_a_suspended_members_tokens_are_refused_with_member_suspended(api: Api) -> None:
    token = _token(api)
    assert await _status(api, token) == (200, None)
    assert await _suspend(api, "alpha", "abuse report 1234")
    await _refresh(api)
    assert await _status(api, token) == (403, "member_suspended")
    assert await _status(api, _token(api)) == (403, "member_suspended")
    assert await _status(api, _token(api, "beta")) == (200, None)


async def test_a_reactivated_member_is_served_again(api: Api) -> None:
    token = _token(api)
    await _suspend(api, "alpha")
    await _refresh(api)
    assert await _status(api, token) == (403, "member_suspended")
    assert await _reactivate(api, "alpha")
    await _refresh(api)
    assert await _status(api, token) == (200, None)


async def test_suspension_and_reactivation_are_audited_with_the_operator_and_reason(
    api: Api,
) -> None:
    await _suspend(api, "alpha", "abuse report 1234")
    await _reactivate(api, "alpha")
    (suspended,) = await _events(api, "member.suspend")
    assert suspended["actor"] == "cli:operator"
    assert suspended["details"] == {"member": "alpha", "reason": "abuse report 1234"}
    (reactivated,) = await _events(api, "member.reactivate")
    assert reactivated["details"] == {"member": "alpha"}
    verdict = await api.client.get("/v1/audit/verify", headers=api.auth("beta", "audit:read"))
    assert verdict.json()["ok"] is True


async def test_suspending_twice_changes_nothing_and_is_audited_once(api: Api) -> None:
    assert await _suspend(api, "alpha")
    assert not await _suspend(api, "alpha")
    assert len(await _events(api, "member.suspend")) == 1
    assert not await _reactivate(api, "beta")
    assert await _events(api, "member.reactivate") == []


async def test_suspending_an_unknown_member_is_refused(api: Api) -> None:
    with pytest.raises(NotFound) as refused:
        await _suspend(api, "nobody")
    assert refused.value.code == "member_not_found"


async def test_a_member_suspended_before_this_process_saw_it_is_refused_at_once(
    api: Api,
) -> None:
    await api.add_member("gamma")
    await _suspend(api, "gamma")
    # No refresh: the process has never seen gamma, so it asks the database.
    assert await _status(api, _token(api, "gamma")) == (403, "member_suspended")


async def test_a_member_list_shows_suspension(api: Api) -> None:
    await _suspend(api, "alpha")
    response = await api.client.get("/v1/members", headers=api.auth("beta", "admin"))
    states = {member["id"]: member["active"] for member in response.json()["members"]}
    assert states == {"alpha": False, "beta": True}


async def test_a_revoked_token_is_refused_with_token_revoked(api: Api) -> None:
    revoked, other = _token(api, jti="leaked-token-1"), _token(api, jti="other-token")
    assert await _status(api, revoked) == (200, None)
    assert await _revoke_jti(api, "leaked-token-1")
    await _refresh(api)
    assert await _status(api, revoked) == (401, "token_revoked")
    assert await _status(api, other) == (200, None)
    (event,) = await _events(api, "token.revoke")
    assert event["details"] == {"jti": "leaked-token-1", "reason": "leaked"}


async def test_revoking_a_token_twice_is_audited_once(api: Api) -> None:
    assert await _revoke_jti(api, "leaked-token-1")
    assert not await _revoke_jti(api, "leaked-token-1")
    assert len(await _events(api, "token.revoke")) == 1


@pytest.mark.parametrize("jti", ["", "x" * 201, "tab\there"])
async def test_a_malformed_token_id_is_refused(api: Api, jti: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await _revoke_jti(api, jti)
    assert refused.value.code == "invalid_jti"


async def test_tokens_issued_before_a_cutoff_are_revoked_and_later_ones_are_not(
    api: Api,
) -> None:
    now = int(time.time())
    old, new = _token(api, iat=now - 120), _token(api, iat=now)
    beta_old = _token(api, "beta", iat=now - 120)
    await _revoke_before(api, "alpha", datetime.fromtimestamp(now - 60, UTC))
    await _refresh(api)
    assert await _status(api, old) == (401, "token_revoked")
    assert await _status(api, new) == (200, None)
    assert await _status(api, beta_old) == (200, None)
    (event,) = await _events(api, "token.revoke")
    assert event["details"]["member"] == "alpha"
    assert event["details"]["issued_before"].startswith(
        datetime.fromtimestamp(now - 60, UTC).isoformat()[:19]
    )


async def test_a_cutoff_without_a_zone_is_refused(api: Api) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await _revoke_before(api, "alpha", datetime.now() - timedelta(minutes=1))
    assert refused.value.code == "invalid_time"


async def test_revoking_the_tokens_of_an_unknown_member_is_refused(api: Api) -> None:
    with pytest.raises(NotFound):
        await _revoke_before(api, "nobody", datetime.now(UTC))


async def test_the_refresh_loop_picks_up_a_suspension_without_being_asked(
    api_factory: Callable[[Settings], Awaitable[Api]], database_url: str
) -> None:
    fast = await api_factory(
        Settings(dev_mode=True, database_url=database_url, access_refresh_seconds=0.05)
    )
    await fast.add_member("alpha")
    token = _token(fast)
    assert await _status(fast, token) == (200, None)
    await _suspend(fast, "alpha")
    deadline = time.monotonic() + 10
    while await _status(fast, token) != (403, "member_suspended"):
        assert time.monotonic() < deadline, "suspension not picked up by the refresh loop"
        await asyncio.sleep(0.02)
