"""Per-member rate limits: a token bucket per member in each process; excess is refused with
429 `rate_limited` and `Retry-After`, and refusals are audited in aggregate."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from hashshare.config import Settings, settings_problems
from tests.conftest import Api

StartApi = Callable[[Settings], Awaitable[Api]]


async def _limited(start: StartApi, database_url: str, per_second: float, burst: int) -> Api:
    api = await start(
        Settings(
            dev_mode=True,
            database_url=database_url,
            rate_limit_per_second=per_second,
            rate_limit_burst=burst,
        )
    )
    await api.add_member("alpha", "beta")
    return api


async def _get(api: Api, member: str = "alpha") -> Any:
    return await api.client.get("/v1/labels", headers=api.auth(member, "hashes:match"))


async def _events(api: Api) -> list[dict[str, Any]]:
    rows = await api.sql(
        "SELECT member_id, outcome, details FROM audit_events "
        "WHERE action = 'request.rate_limited' ORDER BY id"
    )
    return [
        {"member": m, "outcome": o, **(json.loads(d) if isinstance(d, str) else d)}
        for m, o, d in rows
    ]


async def test_requests_beyond_the_burst_are_refused_with_retry_after(
    api_factory: StartApi, database_url: str
) -> None:
    api = await _limited(api_factory, database_url, per_second=0.5, burst=3)
    statuses = [(await _get(api)).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    refused = await _get(api)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    # One request's worth comes back in 2 s at 0.5 a second.
    assert refused.headers["Retry-After"] == "2"
    assert refused.json()["error"]["details"] == {"retry_after": 2}


async def test_the_limit_is_per_member(api_factory: StartApi, database_url: str) -> None:
    api = await _limited(api_factory, database_url, per_second=0.5, burst=2)
    for _ in range(2):
        assert (await _get(api, "alpha")).status_code == 200
    assert (await _get(api, "alpha")).status_code == 429
    assert (await _get(api, "beta")).status_code == 200


async def test_the_bucket_refills_at_the_configured_rate(
    api_factory: StartApi, database_url: str
) -> None:
    api = await _limited(api_factory, database_url, per_second=20, burst=1)
    assert (await _get(api)).status_code == 200
    assert (await _get(api)).status_code == 429
    await asyncio.sleep(0.1)  # two requests' worth at 20 a second
    assert (await _get(api)).status_code == 200


async def test_a_refused_request_does_not_reach_its_route(
    api_factory: StartApi, database_url: str
) -> None:
    api = await _limited(api_factory, database_url, per_second=0.5, burst=1)
    assert (await _get(api)).status_code == 200
    body = {
        "hashes": [{"signal_type": "md5", "value": "ab" * 16, "labels": ["attacker-manifesto"]}]
    }
    response = await api.client.post("/v1/hashes", json=body, headers=api.auth("alpha"))
    assert response.status_code == 429
    assert await api.sql("SELECT count(*) FROM hashes") == [(0,)]


async def test_a_flood_of_refusals_is_audited_as_a_few_counted_events(
    api_factory: StartApi, database_url: str
) -> None:
    api = await _limited(api_factory, database_url, per_second=0.1, burst=1)
    limiter = api.app.state.runtime.limiter
    assert (await _get(api)).status_code == 200
    for _ in range(20):
        assert (await _get(api)).status_code == 429
    await api.client.post("/v1/match", json={"queries": []}, headers=api.auth("alpha"))
    # The first refusal at once; the rest counted, not yet written.
    (first,) = await _events(api)
    assert (first["member"], first["outcome"], first["refused"]) == ("alpha", "denied", 1)
    assert first["routes"] == {"GET /v1/labels": 1}
    await limiter.flush()
    first, counted = await _events(api)
    assert counted["refused"] == 20
    assert counted["routes"] == {"GET /v1/labels": 19, "POST /v1/match": 1}
    assert (counted["per_second"], counted["burst"]) == (0.1, 1)
    # Nothing refused since: no event; the next refusal after a quiet spell is written at once.
    await limiter.flush()
    await limiter.flush()
    assert len(await _events(api)) == 2
    assert (await _get(api)).status_code == 429
    assert [event["refused"] for event in await _events(api)] == [1, 20, 1]


async def test_refusals_counted_at_shutdown_are_written(
    api_factory: StartApi, database_url: str
) -> None:
    api = await _limited(api_factory, database_url, per_second=0.1, burst=1)
    for _ in range(4):
        await _get(api)
    await api.app.state.runtime.limiter.stop()
    assert [event["refused"] for event in await _events(api)] == [1, 2]


async def test_a_rate_limited_request_is_not_also_audited_as_rejected(
    api_factory: StartApi, database_url: str
) -> None:
    api = await _limited(api_factory, database_url, per_second=0.1, burst=1)
    await _get(api)
    await _get(api)
    rows = await api.sql(
        "SELECT count(*) FROM audit_events WHERE action IN ('request.rejected', 'request.denied')"
    )
    assert rows == [(0,)]


async def test_without_a_configured_rate_nothing_is_limited(api: Api) -> None:
    statuses = {(await _get(api)).status_code for _ in range(120)}
    assert statuses == {200}


@pytest.mark.parametrize(
    ("name", "value"), [("rate_limit_per_second", -1), ("rate_limit_burst", 0)]
)
def test_nonsense_limits_are_refused(name: str, value: float) -> None:
    _, problems = settings_problems(dev_mode=True, **{name: value})
    assert any(f"HASHSHARE_{name.upper()}" in problem for problem in problems)
