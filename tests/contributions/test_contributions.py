"""GET /v1/contributions: a member's own contributions, with its references, in pages."""

from __future__ import annotations

from tests.conftest import Api
from tests.values import far_pdq

LABELS = ["attacker-manifesto"]


async def _submit(api: Api, member: str, numbers: range) -> list[int]:
    body = {
        "hashes": [
            {
                "signal_type": "pdq",
                "value": far_pdq(n),
                "labels": LABELS,
                "external_ref": f"{member}-{n}",
            }
            for n in numbers
        ]
    }
    response = await api.client.post("/v1/hashes", json=body, headers=api.auth(member))
    assert response.status_code == 200, response.text
    return [item["hash_id"] for item in response.json()["results"]]


async def test_a_member_reads_only_its_own_contributions_page_by_page(api: Api) -> None:
    mine = await _submit(api, "alpha", range(1, 4))
    await _submit(api, "beta", range(3, 6))
    seen: list[tuple[int, str | None]] = []
    after = "0"
    while True:
        response = await api.client.get(
            "/v1/contributions", params={"after": after, "limit": 2}, headers=api.auth("alpha")
        )
        assert response.status_code == 200
        page = response.json()
        seen += [(c["hash_id"], c["external_ref"]) for c in page["contributions"]]
        after = page["next_cursor"]
        if not page["has_more"]:
            break
    assert seen == [(mine[0], "alpha-1"), (mine[1], "alpha-2"), (mine[2], "alpha-3")]


async def test_retracted_contributions_are_listed_only_on_request(api: Api) -> None:
    ids = await _submit(api, "alpha", range(1, 3))
    response = await api.client.delete(f"/v1/hashes/{ids[0]}", headers=api.auth("alpha"))
    assert response.status_code == 200
    listed = await api.client.get("/v1/contributions", headers=api.auth("alpha"))
    assert [c["hash_id"] for c in listed.json()["contributions"]] == [ids[1]]
    everything = await api.client.get(
        "/v1/contributions", params={"include_retracted": "true"}, headers=api.auth("alpha")
    )
    rows = everything.json()["contributions"]
    assert [(c["hash_id"], c["hash_status"], c["retracted_at"] is not None) for c in rows] == [
        (ids[0], "retracted", True),
        (ids[1], "active", False),
    ]


async def test_listing_needs_the_read_scope_and_a_cursor_it_issued(api: Api) -> None:
    response = await api.client.get("/v1/contributions", headers=api.auth("alpha", "hashes:submit"))
    assert response.status_code == 403
    response = await api.client.get(
        "/v1/contributions", params={"after": "-1"}, headers=api.auth("alpha")
    )
    assert (response.status_code, response.json()["error"]["code"]) == (422, "invalid_cursor")
