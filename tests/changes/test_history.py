"""GET /v1/hashes/{id}/history: every state a hash has had, from the change feed."""

from __future__ import annotations

from tests.conftest import Api
from tests.feedback.test_disputes import _judge
from tests.hashes.test_submit import item, submitted
from tests.values import pdq_value


async def _history(api: Api, hash_id: int) -> list[tuple[str, int]]:
    response = await api.client.get(f"/v1/hashes/{hash_id}/history", headers=api.auth("beta"))
    assert response.status_code == 200
    changes = response.json()["changes"]
    assert [change["hash_id"] for change in changes] == [hash_id] * len(changes)
    return [(change["status"], change["contributors"]) for change in changes]


async def test_history_lists_every_state_oldest_first(api: Api) -> None:
    hash_id = (await submitted(api, [item(pdq_value(11))]))["results"][0]["hash_id"]
    await submitted(api, [item(pdq_value(11))], member="beta")
    await api.client.delete(f"/v1/hashes/{hash_id}", headers=api.auth("alpha"))
    await api.client.delete(f"/v1/hashes/{hash_id}", headers=api.auth("beta"))

    assert await _history(api, hash_id) == [
        ("active", 1),
        ("active", 2),
        ("active", 1),
        ("retracted", 0),
    ]


async def test_a_dispute_and_its_resolution_are_in_the_history(api: Api) -> None:
    await api.add_member("gamma")
    hash_id = (await submitted(api, [item(pdq_value(12))]))["results"][0]["hash_id"]
    assert (await _judge(api, "beta", hash_id, "disagree")).status_code == 200
    resolved = await api.client.post(
        f"/v1/hashes/{hash_id}/resolution",
        json={"decision": "reinstate", "reason": "the listing is right"},
        headers=api.auth("gamma", "admin"),
    )
    assert resolved.status_code == 200

    assert [status for status, _ in await _history(api, hash_id)] == [
        "active",
        "disputed",
        "active",
    ]


async def test_history_of_an_unknown_hash_is_not_found(api: Api) -> None:
    response = await api.client.get("/v1/hashes/999/history", headers=api.auth("beta"))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "hash_not_found"
