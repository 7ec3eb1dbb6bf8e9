"""The central feed over HTTP: `HttpChangeSource`, the long-poll of GET /v1/changes, and the
audit event of every read."""

from __future__ import annotations

import asyncio
import json
import time

import httpx

from hashshare.changes.http_source import HttpChangeSource
from hashshare.config import Settings
from hashshare.matching.follower import ChangeFollower
from hashshare.matching.holder import IndexHolder
from tests.conftest import Api
from tests.values import pdq_value

LABELS = ["attacker-manifesto"]


async def _submit(api: Api, values: list[str]) -> list[int]:
    body = {"hashes": [{"signal_type": "pdq", "value": v, "labels": LABELS} for v in values]}
    response = await api.client.post("/v1/hashes", json=body, headers=api.auth("alpha"))
    assert response.status_code == 200, response.text
    return [item["hash_id"] for item in response.json()["results"]]


def _source(api: Api, **options: float) -> HttpChangeSource:
    return HttpChangeSource(
        "http://central",
        api.token("beta", "hashes:read", sub="edge-beta"),
        transport=httpx.ASGITransport(app=api.app),
        **options,  # type: ignore[arg-type]
    )


async def test_follower_over_http_holds_what_the_service_matches(api: Api) -> None:
    ids = await _submit(api, [pdq_value(i) for i in range(1, 31)])
    response = await api.client.delete(f"/v1/hashes/{ids[0]}", headers=api.auth("alpha"))
    assert response.status_code == 200
    holder = IndexHolder()
    source = _source(api)
    await source.start()
    try:
        follower = ChangeFollower(holder, source, poll_seconds=0.1)
        assert await follower.poll() == 31  # thirty upserts and one tombstone
        assert holder.sizes()["pdq"] == 29
        assert follower.position.applied_seq == follower.position.head_seq == 31
        assert holder.search("pdq", bytes.fromhex(pdq_value(1)), 0) == []
        assert holder.search("pdq", bytes.fromhex(pdq_value(2)), 0) == [(ids[1], 0)]
    finally:
        await source.stop()


async def test_long_poll_answers_as_soon_as_the_feed_moves(api: Api) -> None:
    headers = api.auth("beta", "hashes:read")
    head = (await api.client.get("/v1/changes", headers=headers)).json()["head_seq"]

    async def submit_later() -> None:
        await asyncio.sleep(0.3)
        await _submit(api, [pdq_value(7)])

    started = time.monotonic()
    writer = asyncio.create_task(submit_later())
    response = await api.client.get(
        "/v1/changes", params={"after": str(head), "wait": 20}, headers=headers
    )
    elapsed = time.monotonic() - started
    await writer
    assert response.status_code == 200
    page = response.json()
    assert [change["value"] for change in page["changes"]] == [pdq_value(7)]
    assert page["head_seq"] == head + 1
    assert 0.3 <= elapsed < 2.0


async def test_long_poll_with_nothing_new_answers_empty_after_its_wait(api: Api) -> None:
    headers = api.auth("beta", "hashes:read")
    started = time.monotonic()
    response = await api.client.get(
        "/v1/changes", params={"after": "0", "wait": 0.4}, headers=headers
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.json() == {"changes": [], "next_cursor": "0", "has_more": False, "head_seq": 0}
    assert 0.35 <= elapsed < 2.0


async def test_long_poll_is_capped_by_the_setting(database_url: str, api_factory: object) -> None:
    start = api_factory  # type: ignore[assignment]
    api: Api = await start(  # type: ignore[operator]
        Settings(dev_mode=True, database_url=database_url, feed_max_wait_seconds=0.2)
    )
    await api.add_member("beta")
    started = time.monotonic()
    response = await api.client.get(
        "/v1/changes", params={"after": "0", "wait": 600}, headers=api.auth("beta", "hashes:read")
    )
    assert response.status_code == 200
    assert time.monotonic() - started < 2.0


async def test_a_wait_beyond_an_hour_is_refused(api: Api) -> None:
    response = await api.client.get(
        "/v1/changes", params={"wait": 3601}, headers=api.auth("beta", "hashes:read")
    )
    assert response.status_code == 422


async def test_every_feed_read_is_audited_with_its_member_and_range(api: Api) -> None:
    await _submit(api, [pdq_value(i) for i in range(1, 6)])
    headers = api.auth("beta", "hashes:read", sub="edge-beta")
    first = (await api.client.get("/v1/changes", params={"limit": 3}, headers=headers)).json()
    await api.client.get("/v1/changes", params={"after": first["next_cursor"]}, headers=headers)
    rows = await api.sql(
        "SELECT actor, member_id, details FROM audit_events"
        " WHERE action = 'changes.read' ORDER BY id"
    )
    details = [json.loads(row[2]) if isinstance(row[2], str) else row[2] for row in rows]
    assert [(row[0], row[1]) for row in rows] == [("edge-beta", "beta")] * 2
    assert details == [
        {"from_seq": 0, "to_seq": 3, "changes": 3},
        {"from_seq": 3, "to_seq": 5, "changes": 2},
    ]


async def test_source_reports_an_unreachable_service_and_keeps_its_cursor(api: Api) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    source = HttpChangeSource("http://central", "token", transport=httpx.MockTransport(refuse))
    await source.start()
    try:
        started = time.monotonic()
        await source.wait(0.2)  # no exception: it sleeps instead
        assert time.monotonic() - started >= 0.15
        assert source.last_contact is None
        assert await source.head() == 0
    finally:
        await source.stop()
