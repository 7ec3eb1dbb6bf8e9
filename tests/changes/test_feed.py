"""The change feed: replaying it from the start gives exactly the current shared set."""

from __future__ import annotations

import json
import random
from typing import Any

from tests.conftest import Api
from tests.values import pdq_value

MEMBERS = ("alpha", "beta", "gamma")
LABELS = ["attacker-manifesto", "glorification-of-terrorist-acts", "entity:isil"]


def _labels(stored: Any) -> list[str]:
    return stored if isinstance(stored, list) else list(json.loads(stored))


async def _replay(api: Api, page_size: int) -> dict[int, dict[str, Any]]:
    """What a member holds after replaying the whole feed, page by page."""
    held: dict[int, dict[str, Any]] = {}
    cursor = "0"
    while True:
        response = await api.client.get(
            "/v1/changes",
            params={"after": cursor, "limit": page_size},
            headers=api.auth("beta", "hashes:read"),
        )
        assert response.status_code == 200
        page = response.json()
        for change in page["changes"]:
            assert int(change["seq"]) > int(cursor)
            held[change["hash_id"]] = change
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return held


async def _random_history(api: Api, rng: random.Random, steps: int) -> None:
    values = [pdq_value(rng.getrandbits(256) >> 128) for _ in range(12)]
    for _ in range(steps):
        member = rng.choice(MEMBERS)
        action = rng.random()
        if action < 0.35:
            chosen = rng.sample(values, rng.randint(1, 4))
            items = [
                {
                    "signal_type": "pdq",
                    "value": v,
                    "labels": [LABELS[0], *rng.sample(LABELS[1:], 1)],
                }
                for v in chosen
            ]
            response = await api.client.post(
                "/v1/hashes", json={"hashes": items}, headers=api.auth(member)
            )
            assert response.status_code == 200
        else:
            rows = await api.sql("SELECT id FROM hashes")
            if not rows:
                continue
            hash_id = rng.choice(rows)[0]
            if action < 0.75:
                await api.client.delete(f"/v1/hashes/{hash_id}", headers=api.auth(member))
            else:
                verdict = rng.choice(["agree", "disagree"])
                body = {
                    "verdict": verdict,
                    "reason": "wrong-label" if verdict == "disagree" else None,
                }
                await api.client.post(
                    f"/v1/hashes/{hash_id}/feedback", json=body, headers=api.auth(member)
                )


async def test_replaying_the_feed_gives_exactly_the_current_set(api: Api) -> None:
    await api.add_member("gamma")
    await _random_history(api, random.Random(20261128), steps=60)
    # And one dispute for certain: a single contributor, one disagreement.
    body = {"hashes": [{"signal_type": "md5", "value": "44" * 16, "labels": LABELS[:1]}]}
    created = await api.client.post("/v1/hashes", json=body, headers=api.auth("alpha"))
    disputed_id = created.json()["results"][0]["hash_id"]
    await api.client.post(
        f"/v1/hashes/{disputed_id}/feedback",
        json={"verdict": "disagree", "reason": "counter-speech"},
        headers=api.auth("beta"),
    )

    held = await _replay(api, page_size=7)

    rows = await api.sql("SELECT id, signal_type, value, status, labels, contributors FROM hashes")
    assert rows, "the history made no hashes"
    current = {
        row[0]: (row[1], bytes(row[2]).hex(), row[3], sorted(_labels(row[4])), row[5])
        for row in rows
    }
    replayed = {
        hash_id: (c["signal_type"], c["value"], c["status"], sorted(c["labels"]), c["contributors"])
        for hash_id, c in held.items()
    }
    assert replayed == current
    assert {row[3] for row in rows} == {"active", "disputed", "retracted"}
    matchable = {i for i, c in held.items() if c["kind"] == "upsert"}
    assert matchable == {row[0] for row in rows if row[3] in ("active", "disputed")}


async def test_the_feed_continues_from_a_saved_cursor(api: Api) -> None:
    auth = api.auth("alpha")
    first = {"hashes": [{"signal_type": "md5", "value": "11" * 16, "labels": LABELS[:1]}]}
    await api.client.post("/v1/hashes", json=first, headers=auth)
    page = (await api.client.get("/v1/changes", headers=auth)).json()
    assert [c["kind"] for c in page["changes"]] == ["upsert"]

    second = {"hashes": [{"signal_type": "md5", "value": "22" * 16, "labels": LABELS[:1]}]}
    await api.client.post("/v1/hashes", json=second, headers=auth)
    later = (
        await api.client.get("/v1/changes", params={"after": page["next_cursor"]}, headers=auth)
    ).json()

    assert [c["value"] for c in later["changes"]] == ["22" * 16]
    assert later["has_more"] is False


async def test_a_retraction_appears_as_a_tombstone(api: Api) -> None:
    auth = api.auth("alpha")
    body = {"hashes": [{"signal_type": "md5", "value": "33" * 16, "labels": LABELS[:1]}]}
    hash_id = (await api.client.post("/v1/hashes", json=body, headers=auth)).json()["results"][0][
        "hash_id"
    ]
    await api.client.delete(f"/v1/hashes/{hash_id}", headers=auth)

    changes = (await api.client.get("/v1/changes", headers=auth)).json()["changes"]

    assert [(c["hash_id"], c["kind"], c["status"]) for c in changes] == [
        (hash_id, "upsert", "active"),
        (hash_id, "tombstone", "retracted"),
    ]


async def test_a_cursor_the_service_never_issued_is_refused(api: Api) -> None:
    for cursor in ("abc", "-1", "99999999999999999999"):
        response = await api.client.get(
            "/v1/changes", params={"after": cursor}, headers=api.auth("alpha")
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_cursor"


async def test_the_feed_needs_the_read_scope(api: Api) -> None:
    response = await api.client.get("/v1/changes", headers=api.auth("alpha", "hashes:match"))

    assert response.status_code == 403
