"""GET and DELETE /v1/hashes/{id}: what each member sees, and retracting a contribution."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.conftest import Api

BEHAVIOUR = "attacker-manifesto"
OTHER_BEHAVIOUR = "glorification-of-terrorist-acts"
VALUE = "0123456789abcdef" * 4
READ_ONLY = "hashes:read"


def item(value: str = VALUE, **fields: Any) -> dict[str, Any]:
    return {"signal_type": "pdq", "value": value, "labels": [BEHAVIOUR], **fields}


async def contribute(api: Api, member: str = "alpha", **fields: Any) -> dict[str, Any]:
    """Submit VALUE as `member`; return the one result."""
    response = await api.client.post(
        "/v1/hashes", json={"hashes": [item(**fields)]}, headers=api.auth(member)
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["results"][0]
    return result


async def read(api: Api, hash_id: int, member: str = "alpha", scopes: str = "*") -> Any:
    return await api.client.get(f"/v1/hashes/{hash_id}", headers=api.auth(member, scopes))


async def read_ok(api: Api, hash_id: int, member: str = "alpha", scopes: str = "*") -> Any:
    response = await read(api, hash_id, member, scopes)
    assert response.status_code == 200, response.text
    return response.json()


async def retract(api: Api, hash_id: int, member: str = "alpha") -> Any:
    return await api.client.delete(f"/v1/hashes/{hash_id}", headers=api.auth(member))


async def matches(api: Api, value: str = VALUE) -> list[dict[str, Any]]:
    response = await api.client.post(
        "/v1/match",
        json={"queries": [{"signal_type": "pdq", "value": value}]},
        headers=api.auth("alpha", "hashes:match"),
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["results"][0]["matches"]
    return found


async def contribution_rows(api: Api) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await api.sql("select * from contributions order by id")]


# --- reading ----------------------------------------------------------------------------


async def test_hash_shows_its_value_labels_status_and_contributors(api: Api) -> None:
    hash_id = (await contribute(api, labels=[BEHAVIOUR, "entity:isil"], quality=77))["hash_id"]

    body = await read_ok(api, hash_id)

    assert body["id"] == hash_id
    assert body["signal_type"] == "pdq"
    assert body["value"] == VALUE
    assert body["labels"] == [BEHAVIOUR, "entity:isil"]
    assert body["status"] == "active"
    assert body["contributors"] == 1
    first = datetime.fromisoformat(body["first_contributed_at"])
    last = datetime.fromisoformat(body["last_contributed_at"])
    assert first.tzinfo is not None
    assert first <= last


async def test_contributor_sees_its_own_external_ref(api: Api) -> None:
    hash_id = (await contribute(api, external_ref="alpha-case-42", quality=88))["hash_id"]

    mine = (await read_ok(api, hash_id))["your_contribution"]

    assert mine["external_ref"] == "alpha-case-42"
    assert mine["labels"] == [BEHAVIOUR]
    assert mine["quality"] == 88
    assert mine["retracted_at"] is None


async def test_other_member_sees_neither_the_reference_nor_who_contributed(api: Api) -> None:
    hash_id = (await contribute(api, external_ref="alpha-secret-ref"))["hash_id"]

    response = await read(api, hash_id, member="beta", scopes=READ_ONLY)

    assert response.status_code == 200
    body = response.json()
    assert body["your_contribution"] is None
    assert body["contributors"] == 1
    assert "alpha-secret-ref" not in response.text
    assert "alpha" not in response.text


async def test_each_contributor_sees_only_its_own_reference(api: Api) -> None:
    hash_id = (await contribute(api, external_ref="alpha-ref"))["hash_id"]
    await contribute(api, member="beta", external_ref="beta-ref")

    response = await read(api, hash_id, member="beta", scopes=READ_ONLY)

    assert response.json()["your_contribution"]["external_ref"] == "beta-ref"
    assert "alpha-ref" not in response.text


async def test_contributions_are_listed_only_with_audit_read(api: Api) -> None:
    hash_id = (await contribute(api, external_ref="alpha-ref"))["hash_id"]
    await contribute(api, member="beta", external_ref="beta-ref")

    without = await read_ok(api, hash_id, member="alpha", scopes=READ_ONLY)
    auditor = await read_ok(api, hash_id, member="alpha", scopes="hashes:read audit:read")

    assert without["contributions"] is None
    assert [(c["member_id"], c["external_ref"]) for c in auditor["contributions"]] == [
        ("alpha", "alpha-ref"),
        ("beta", "beta-ref"),
    ]


async def test_a_second_contribution_moves_last_but_not_first_contributed(api: Api) -> None:
    hash_id = (await contribute(api, member="alpha"))["hash_id"]
    before = await read_ok(api, hash_id)

    await contribute(api, member="beta")

    after = await read_ok(api, hash_id)
    assert after["first_contributed_at"] == before["first_contributed_at"]
    assert datetime.fromisoformat(after["last_contributed_at"]) > datetime.fromisoformat(
        before["last_contributed_at"]
    )


async def test_unknown_hash_id_is_not_found(api: Api) -> None:
    response = await read(api, 987654)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "hash_not_found"


# --- retracting -------------------------------------------------------------------------


async def test_retracting_the_only_contribution_retracts_the_hash(api: Api) -> None:
    hash_id = (await contribute(api))["hash_id"]

    response = await retract(api, hash_id)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["status"], body["contributors"]) == (hash_id, "retracted", 0)
    assert body["retracted_at"] is not None
    after = await read_ok(api, hash_id)
    assert (after["status"], after["contributors"]) == ("retracted", 0)
    assert after["your_contribution"]["retracted_at"] is not None


async def test_retracting_the_last_contribution_stops_matching_at_once(api: Api) -> None:
    hash_id = (await contribute(api))["hash_id"]
    assert [m["hash_id"] for m in await matches(api)] == [hash_id]

    assert (await retract(api, hash_id)).status_code == 200

    assert await matches(api) == []


async def test_retracting_one_of_two_contributions_keeps_the_hash_matching(api: Api) -> None:
    hash_id = (await contribute(api, member="alpha"))["hash_id"]
    await contribute(api, member="beta")

    response = await retract(api, hash_id, member="alpha")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["contributors"]) == ("active", 1)
    [hit] = await matches(api)
    assert (hit["hash_id"], hit["status"], hit["contributors"]) == (hash_id, "active", 1)


async def test_retracting_drops_the_retractors_labels_from_the_hash(api: Api) -> None:
    hash_id = (await contribute(api, member="alpha"))["hash_id"]
    await contribute(api, member="beta", labels=[OTHER_BEHAVIOUR, "entity:isil"])
    assert (await read_ok(api, hash_id))["labels"] == [BEHAVIOUR, "entity:isil", OTHER_BEHAVIOUR]

    await retract(api, hash_id, member="beta")

    assert (await read_ok(api, hash_id))["labels"] == [BEHAVIOUR]
    assert (await matches(api))[0]["labels"] == [BEHAVIOUR]


async def test_retracting_a_hash_you_never_contributed_is_forbidden(api: Api) -> None:
    hash_id = (await contribute(api, member="alpha"))["hash_id"]
    before_rows = await contribution_rows(api)
    before = await read_ok(api, hash_id)

    response = await retract(api, hash_id, member="beta")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_contributor"
    assert await contribution_rows(api) == before_rows
    assert await read_ok(api, hash_id) == before
    assert [m["hash_id"] for m in await matches(api)] == [hash_id]


async def test_retracting_twice_is_harmless(api: Api) -> None:
    hash_id = (await contribute(api, member="alpha"))["hash_id"]
    await contribute(api, member="beta")
    first = await retract(api, hash_id, member="alpha")
    rows_after_first = await contribution_rows(api)

    second = await retract(api, hash_id, member="alpha")

    assert second.status_code == 200, second.text
    assert second.json() == first.json()
    assert await contribution_rows(api) == rows_after_first
    after = await read_ok(api, hash_id)
    assert (after["status"], after["contributors"]) == ("active", 1)


async def test_retracting_a_retracted_hash_again_keeps_it_retracted(api: Api) -> None:
    hash_id = (await contribute(api))["hash_id"]
    await retract(api, hash_id)

    again = await retract(api, hash_id)

    assert again.status_code == 200
    assert (again.json()["status"], again.json()["contributors"]) == ("retracted", 0)
    assert await matches(api) == []


async def test_resubmitting_after_retraction_reactivates_the_hash(api: Api) -> None:
    hash_id = (await contribute(api))["hash_id"]
    await retract(api, hash_id)

    result = await contribute(api)

    assert (result["status"], result["hash_id"]) == ("created", hash_id)
    after = await read_ok(api, hash_id)
    assert (after["status"], after["contributors"]) == ("active", 1)
    assert after["your_contribution"]["retracted_at"] is None
    assert [m["hash_id"] for m in await matches(api)] == [hash_id]


async def test_another_members_contribution_reactivates_a_retracted_hash(api: Api) -> None:
    hash_id = (await contribute(api, member="alpha"))["hash_id"]
    await retract(api, hash_id, member="alpha")

    result = await contribute(api, member="beta", labels=[OTHER_BEHAVIOUR])

    assert (result["status"], result["hash_id"]) == ("created", hash_id)
    after = await read_ok(api, hash_id, member="beta")
    assert (after["status"], after["contributors"], after["labels"]) == (
        "active",
        1,
        [OTHER_BEHAVIOUR],
    )
    assert [m["hash_id"] for m in await matches(api)] == [hash_id]


async def test_retracting_an_unknown_hash_is_not_found(api: Api) -> None:
    response = await retract(api, 987654)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "hash_not_found"


async def test_retracting_needs_the_submit_scope(api: Api) -> None:
    hash_id = (await contribute(api))["hash_id"]

    response = await api.client.delete(
        f"/v1/hashes/{hash_id}", headers=api.auth("alpha", "hashes:read hashes:match")
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"
    assert (await read_ok(api, hash_id))["status"] == "active"
