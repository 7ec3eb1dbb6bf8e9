"""GET /v1/disputes: the disputed hashes an admin has to resolve, with the verdicts behind them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.values import pdq_value

LABELS = ["attacker-manifesto"]


async def _listed(api: Api, n: int) -> int:
    body = {"hashes": [{"signal_type": "pdq", "value": pdq_value(n), "labels": LABELS}]}
    response = await api.client.post("/v1/hashes", json=body, headers=api.auth("alpha"))
    assert response.status_code == 200
    hash_id: int = response.json()["results"][0]["hash_id"]
    return hash_id


async def _disagree(api: Api, member: str, hash_id: int, reason: str, comment: str) -> None:
    body = {"verdict": "disagree", "reason": reason, "comment": comment}
    response = await api.client.post(
        f"/v1/hashes/{hash_id}/feedback", json=body, headers=api.auth(member, "hashes:feedback")
    )
    assert response.status_code == 200
    assert response.json()["status"] == "disputed"


async def _queue(api: Api, **params: Any) -> dict[str, Any]:
    response = await api.client.get("/v1/disputes", params=params, headers=api.auth("ops", "admin"))
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


@pytest.fixture
async def admin(api: Api) -> Api:
    await api.add_member("ops")
    return api


async def test_the_queue_lists_disputed_hashes_with_their_reasons(admin: Api) -> None:
    quiet = await _listed(admin, 1)
    disputed = await _listed(admin, 2)
    await _disagree(admin, "beta", disputed, "wrong-label", "It is a news report.")
    page = await _queue(admin)
    assert [d["hash_id"] for d in page["disputes"]] == [disputed]
    assert quiet not in [d["hash_id"] for d in page["disputes"]]
    (dispute,) = page["disputes"]
    assert dispute["value"] == pdq_value(2)
    assert dispute["labels"] == LABELS
    assert dispute["feedback"] == {
        "agree": 0,
        "disagree": 1,
        "disagree_by_reason": {"wrong-label": 1},
    }
    (verdict,) = dispute["verdicts"]
    assert (verdict["member_id"], verdict["reason"], verdict["comment"]) == (
        "beta",
        "wrong-label",
        "It is a news report.",
    )
    assert page["next_cursor"] is None


async def test_a_resolved_dispute_leaves_the_queue(admin: Api) -> None:
    hash_id = await _listed(admin, 3)
    await _disagree(admin, "beta", hash_id, "other", "")
    response = await admin.client.post(
        f"/v1/hashes/{hash_id}/resolution",
        json={"decision": "reinstate", "reason": "The listing stands."},
        headers=admin.auth("ops", "admin"),
    )
    assert response.status_code == 200
    assert (await _queue(admin))["disputes"] == []


async def test_the_queue_pages_by_cursor(admin: Api) -> None:
    ids = [await _listed(admin, n) for n in (4, 5, 6)]
    for hash_id in ids:
        await _disagree(admin, "beta", hash_id, "counter-speech", "")
    first = await _queue(admin, limit=2)
    assert [d["hash_id"] for d in first["disputes"]] == ids[:2]
    rest = await _queue(admin, limit=2, cursor=first["next_cursor"])
    assert [d["hash_id"] for d in rest["disputes"]] == ids[2:]


async def test_the_queue_needs_the_admin_scope(admin: Api) -> None:
    response = await admin.client.get("/v1/disputes", headers=admin.auth("beta", "audit:read"))
    assert response.status_code == 403


async def test_a_forged_cursor_is_refused(admin: Api) -> None:
    response = await admin.client.get(
        "/v1/disputes", params={"cursor": "x1"}, headers=admin.auth("ops", "admin")
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_cursor"
