"""The edge app in-process, following an in-process central service: same answers, local
token, the copy saved and loaded."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from hashshare.edge import store
from hashshare.edge.app import create_edge_app
from hashshare.edge.copy import Held
from hashshare.edge.runtime import EdgeOptions, EdgeRuntime
from tests.conftest import Api
from tests.hashing.pictures import encode, scene
from tests.values import pdq_value

LABELS = ["attacker-manifesto"]


@asynccontextmanager
async def running_edge_app(
    api: Api,
    data: Path,
    scopes: str = "hashes:read",
    upstream: httpx.AsyncBaseTransport | None = None,
    **options: Any,
) -> AsyncIterator[tuple[EdgeRuntime, httpx.AsyncClient]]:
    """An edge following `api` (or `upstream`, a transport to it), and a client of the edge."""
    app = create_edge_app(
        EdgeOptions(
            upstream="http://central",
            token=api.token("alpha", scopes, sub="edge-alpha"),
            data=data,
            **{"wait_seconds": 0.5, "persist_seconds": 0.2, **options},
        ),
        transport=upstream or httpx.ASGITransport(app=api.app),
    )
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://edge"
        ) as client:
            yield app.state.edge, client
    finally:
        await lifespan.__aexit__(None, None, None)


@asynccontextmanager
async def running_edge(api: Api, data: Path, **options: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with running_edge_app(api, data, **options) as (_, client):
        yield client


async def _until(condition: Callable[[], Awaitable[bool]], limit: float = 10.0) -> float:
    started = time.monotonic()
    while not await condition():
        assert time.monotonic() - started < limit, f"not within {limit} s"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def _ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200


async def _submit(api: Api, values: list[str]) -> list[int]:
    body = {"hashes": [{"signal_type": "pdq", "value": v, "labels": LABELS} for v in values]}
    response = await api.client.post("/v1/hashes", json=body, headers=api.auth("alpha"))
    assert response.status_code == 200, response.text
    return [item["hash_id"] for item in response.json()["results"]]


async def test_edge_answers_as_the_service_does(api: Api, tmp_path: Path) -> None:
    await _submit(api, [pdq_value(i) for i in range(1, 21)])
    body = {"queries": [{"signal_type": "pdq", "value": pdq_value(i)} for i in range(0, 25)]}
    async with running_edge(api, tmp_path) as edge:
        await _until(lambda: _ready(edge))
        central = await api.client.post("/v1/match", json=body, headers=api.auth("alpha"))
        local = await edge.post("/v1/match", json=body)
        assert local.status_code == central.status_code == 200
        assert local.json() == central.json()
        assert local.json()["matched_queries"] > 0
        ready = (await edge.get("/readyz")).json()
        assert ready["signal_types"]["pdq"]["size"] == 20
        assert ready["served"]["queries"] == 25
        assert ready["member"] == "alpha"


async def test_a_local_token_is_required_when_configured(api: Api, tmp_path: Path) -> None:
    body = {"queries": [{"signal_type": "pdq", "value": pdq_value(1)}]}
    async with running_edge(api, tmp_path, local_token="local-secret-token") as edge:
        await _until(lambda: _ready(edge))
        refused = await edge.post("/v1/match", json=body)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_local_token"
        wrong = await edge.post("/v1/match", json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        allowed = await edge.post(
            "/v1/match", json=body, headers={"Authorization": "Bearer local-secret-token"}
        )
        assert allowed.status_code == 200


async def test_bad_queries_are_refused_as_centrally(api: Api, tmp_path: Path) -> None:
    body = {"queries": [{"signal_type": "pdq", "value": "xyz"}]}
    async with running_edge(api, tmp_path) as edge:
        await _until(lambda: _ready(edge))
        local = await edge.post("/v1/match", json=body)
        central = await api.client.post("/v1/match", json=body, headers=api.auth("alpha"))
        assert local.status_code == central.status_code == 422
        assert local.json()["error"]["code"] == central.json()["error"]["code"]


async def test_a_restarted_edge_resumes_from_its_saved_cursor(api: Api, tmp_path: Path) -> None:
    ids = await _submit(api, [pdq_value(i) for i in range(1, 11)])
    async with running_edge(api, tmp_path) as edge:
        await _until(lambda: _ready(edge))
    assert (tmp_path / store.FILE_NAME).exists()
    await _submit(api, [pdq_value(11)])
    response = await api.client.delete(f"/v1/hashes/{ids[0]}", headers=api.auth("alpha"))
    assert response.status_code == 200
    async with running_edge(api, tmp_path) as edge:
        await _until(lambda: _ready(edge))
        ready = (await edge.get("/readyz")).json()
        assert ready["resumed_from_seq"] == 10
        assert ready["feed"]["applied_seq"] == 12
        assert ready["signal_types"]["pdq"]["size"] == 10
    reads = await api.sql(
        "SELECT details FROM audit_events WHERE action = 'changes.read' ORDER BY id"
    )
    details = [json.loads(row[0]) if isinstance(row[0], str) else row[0] for row in reads]
    # The first start took a snapshot; the restart read the feed from its saved cursor.
    snapshots = await api.sql("SELECT count(*) FROM audit_events WHERE action = 'snapshot.read'")
    assert snapshots[0][0] == 1
    assert min(d["from_seq"] for d in details) == 10
    assert {"from_seq": 10, "to_seq": 12, "changes": 2} in details


def test_the_saved_copy_loads_as_it_was_saved(tmp_path: Path) -> None:
    held = {
        7: Held("pdq", bytes(range(32)), "active", ("attacker-manifesto",), 2),
        9: Held("md5", bytes(16), "disputed", ("attacker-manifesto", "entity:isil"), 1),
        12: Held("pdq", bytes(32), "active", ("attacker-manifesto",), 1),
    }
    store.save(tmp_path, held, 42, "http://central", None)
    saved = store.load(tmp_path, "http://central")
    assert saved is not None
    assert saved.cursor == 42
    assert saved.held == held
    assert store.load(tmp_path, "http://elsewhere") is None
    assert [p.name for p in tmp_path.iterdir()] == [store.FILE_NAME]


async def test_matches_wait_for_the_first_sync_but_hashing_does_not(tmp_path: Path) -> None:
    async def never_answers(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(60)
        return httpx.Response(500)

    app = create_edge_app(
        EdgeOptions(upstream="http://central", token="unused", data=tmp_path),
        transport=httpx.MockTransport(never_answers),
    )
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://edge"
        ) as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["status"] == "syncing"
            body = {"queries": [{"signal_type": "pdq", "value": pdq_value(1)}]}
            refused = await client.post("/v1/match", json=body)
            assert refused.status_code == 503
            assert refused.json()["error"]["code"] == "edge_syncing"
            hashed = await client.post("/v1/hash", files={"image": encode(scene())})
            assert hashed.status_code == 200
            assert {h["signal_type"] for h in hashed.json()["hashes"]} >= {"pdq", "md5"}
    finally:
        await lifespan.__aexit__(None, None, None)


def test_the_command_refuses_a_missing_token_file(tmp_path: Path) -> None:
    from hashshare.cli import main

    missing = tmp_path / "no-such-token"
    assert main(["edge", "--upstream", "http://central", "--token-file", str(missing)]) == 2
