"""GET /v1/snapshot: the matchable set as JSON lines, with the feed's head, audited."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import Api
from tests.values import pdq_value

LABELS = ["attacker-manifesto"]


async def _snapshot(api: Api, scopes: str = "hashes:read") -> tuple[int, list[dict[str, Any]]]:
    response = await api.client.get("/v1/snapshot", headers=api.auth("beta", scopes))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert lines[0]["format"] == 1
    assert lines[-1] == {"end": True, "hashes": sum(len(p["hash_ids"]) for p in lines[1:-1])}
    return int(lines[0]["head_seq"]), lines[1:-1]


async def test_snapshot_holds_exactly_the_matchable_set_with_its_details(api: Api) -> None:
    body = {
        "hashes": [
            {"signal_type": "pdq", "value": pdq_value(i), "labels": LABELS} for i in range(1, 6)
        ]
        + [{"signal_type": "md5", "value": "ab" * 16, "labels": [*LABELS, "entity:isil"]}]
    }
    response = await api.client.post("/v1/hashes", json=body, headers=api.auth("alpha"))
    ids = [item["hash_id"] for item in response.json()["results"]]
    await api.client.post(
        "/v1/hashes",
        json={"hashes": [{"signal_type": "pdq", "value": pdq_value(2), "labels": LABELS}]},
        headers=api.auth("beta"),
    )
    assert (await api.client.delete(f"/v1/hashes/{ids[0]}", headers=api.auth("alpha"))).is_success

    head, parts = await _snapshot(api)
    feed = await api.client.get("/v1/changes", headers=api.auth("beta", "hashes:read"))
    assert head == feed.json()["head_seq"]
    held: dict[int, tuple[str, str, str, list[str], int]] = {}
    for part in parts:
        width = 64 if part["signal_type"] == "pdq" else 32
        for row, hash_id in enumerate(part["hash_ids"]):
            held[hash_id] = (
                part["signal_type"],
                part["values"][row * width : (row + 1) * width],
                part["statuses"][row],
                part["label_sets"][part["labels"][row]],
                part["contributors"][row],
            )
    assert held == {
        ids[1]: ("pdq", pdq_value(2), "active", LABELS, 2),
        ids[2]: ("pdq", pdq_value(3), "active", LABELS, 1),
        ids[3]: ("pdq", pdq_value(4), "active", LABELS, 1),
        ids[4]: ("pdq", pdq_value(5), "active", LABELS, 1),
        ids[5]: ("md5", "ab" * 16, "active", [*LABELS, "entity:isil"], 1),
    }


async def test_snapshot_of_an_empty_set_is_a_header_and_an_end(api: Api) -> None:
    head, parts = await _snapshot(api)
    assert (head, parts) == (0, [])


async def test_snapshot_needs_the_read_scope_and_is_audited(api: Api) -> None:
    refused = await api.client.get("/v1/snapshot", headers=api.auth("beta", "hashes:match"))
    assert refused.status_code == 403
    await _snapshot(api)
    rows = await api.sql(
        "SELECT actor, member_id, details FROM audit_events WHERE action = 'snapshot.read'"
    )
    assert len(rows) == 1
    details = json.loads(rows[0][2]) if isinstance(rows[0][2], str) else rows[0][2]
    assert (rows[0][0], rows[0][1], details) == ("tester", "beta", {"head_seq": 0})
