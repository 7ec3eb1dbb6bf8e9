"""Database faults: the service answers 503 `database_unavailable` while its database is
unreachable, never a 500, and recovers by itself; nothing it acknowledged is lost.

PostgreSQL faults act on a database of this test module only (its connections terminated
from the server side, new connections refused), never on the server: other clients share it.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from hashshare.config import Settings
from hashshare.db import create_engine
from hashshare.migrations import upgrade
from tests.conftest import PG_URL, Api, _pg_admin, _truncate
from tests.values import pdq_value

LABELS = ["attacker-manifesto"]
BATCH = 20


@pytest.fixture(scope="module")
def own_postgres_url(postgres_url: str) -> Iterator[str]:
    """A database of this module's own (named like the run's, so an abandoned one is
    dropped by the next run): faults here touch no other test's connections."""
    name = f"{make_url(postgres_url).database}f{uuid.uuid4().hex[:6]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    asyncio.run(_pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _terminate_connections(database: str) -> int:
    """Terminate, from the server side, every connection to `database` but this one."""
    import asyncpg

    target = make_url(PG_URL)
    conn = await asyncpg.connect(
        host=target.host,
        port=target.port or 5432,
        user=target.username,
        password=target.password,
        database=target.database,
        timeout=5,
    )
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
        return sum(1 for (terminated,) in rows if terminated)
    finally:
        await conn.close()


def _batch(start: int) -> list[dict[str, Any]]:
    return [
        {"signal_type": "pdq", "value": pdq_value(n), "labels": LABELS}
        for n in range(start, start + BATCH)
    ]


@dataclass
class Outcomes:
    acknowledged: list[int] = field(default_factory=list)  # first n of each batch
    refused: list[int] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    def count(self, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1


async def _submitter(api: Api, client_no: int, stop: asyncio.Event, outcomes: Outcomes) -> None:
    headers = api.auth("alpha", ["hashes:submit"])
    n = 1_000_000 * (client_no + 1)
    while not stop.is_set():
        response = await api.client.post("/v1/hashes", json={"hashes": _batch(n)}, headers=headers)
        outcomes.count(response.status_code)
        if response.status_code == 200:
            outcomes.acknowledged.append(n)
        else:
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "database_unavailable"
            assert response.headers["Retry-After"] == "1"
            outcomes.refused.append(n)
            await asyncio.sleep(0.05)
        n += BATCH


async def _eventually(check: Callable[[], Awaitable[bool]], seconds: float) -> float:
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < seconds, f"not recovered within {seconds} s"
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def _ready(api: Api) -> bool:
    return (await api.client.get("/readyz")).status_code == 200


async def _nothing_acknowledged_lost(api: Api, outcomes: Outcomes) -> None:
    """Every acknowledged batch fully stored and matched; a refused one all or nothing."""
    rows = await api.sql("SELECT value FROM hashes")
    stored = {bytes(value).hex() for (value,) in rows}
    for start in outcomes.acknowledged:
        assert {pdq_value(n) for n in range(start, start + BATCH)} <= stored
    for start in outcomes.refused:
        present = [pdq_value(n) in stored for n in range(start, start + BATCH)]
        assert all(present) or not any(present), f"batch {start} half stored"
    queries = [
        {"signal_type": "pdq", "value": pdq_value(start + BATCH - 1)}
        for start in outcomes.acknowledged[-50:]
    ]
    response = await api.client.post(
        "/v1/match", json={"queries": queries}, headers=api.auth("alpha", ["hashes:match"])
    )
    assert response.status_code == 200, response.text
    assert all(result["matches"] for result in response.json()["results"])
    verdict = await api.client.get("/v1/audit/verify", headers=api.auth("alpha", ["audit:read"]))
    assert verdict.status_code == 200
    assert verdict.json()["ok"] is True, verdict.json()
    [(events,)] = await api.sql("SELECT count(*) FROM audit_events WHERE action = 'hashes.submit'")
    assert events >= len(outcomes.acknowledged)


@pytest.fixture
async def pg_api(
    own_postgres_url: str, api_factory: Callable[[Settings], Awaitable[Api]]
) -> AsyncIterator[Api]:
    engine = create_engine(own_postgres_url)
    try:
        await _truncate(engine)
    finally:
        await engine.dispose()
    api = await api_factory(
        Settings(
            dev_mode=True,
            database_url=own_postgres_url,
            feed_poll_seconds=0.2,
        )
    )
    await api.add_member("alpha")
    yield api


@pytest.mark.postgres
async def test_connections_terminated_by_the_server_give_503_and_recover(pg_api: Api) -> None:
    database = str(make_url(pg_api.settings.database_url).database)
    stop = asyncio.Event()
    outcomes = Outcomes()
    clients = [asyncio.create_task(_submitter(pg_api, i, stop, outcomes)) for i in range(4)]
    terminated = 0
    for _ in range(12):
        await asyncio.sleep(0.25)
        terminated += await _terminate_connections(database)
    stop.set()
    await asyncio.gather(*clients)
    assert terminated > 0
    assert set(outcomes.statuses) <= {200, 503}, outcomes.statuses
    assert outcomes.statuses.get(503, 0) > 0, outcomes.statuses  # the fault was felt
    print(f"terminated {terminated} connections; answers {outcomes.statuses}")

    await _eventually(lambda: _ready(pg_api), 10)
    recovered = await pg_api.client.post(
        "/v1/hashes", json={"hashes": _batch(1)}, headers=pg_api.auth("alpha", ["hashes:submit"])
    )
    assert recovered.status_code == 200
    outcomes.acknowledged.append(1)
    await _nothing_acknowledged_lost(pg_api, outcomes)
    # The follower polls again, and the LISTEN connection was opened again.
    feed = (await pg_api.client.get("/readyz")).json()["feed"]
    assert feed["last_poll_seconds_ago"] < 2
    source = pg_api.app.state.runtime.follower.source
    await _eventually(
        lambda: _true(source._listener is not None and not source._listener.is_closed()), 10
    )


async def _true(value: bool) -> bool:
    return value


@pytest.mark.postgres
async def test_a_database_refusing_connections_gives_503_then_recovers(pg_api: Api) -> None:
    database = str(make_url(pg_api.settings.database_url).database)
    submit = pg_api.auth("alpha", ["hashes:submit"])
    match = pg_api.auth("alpha", ["hashes:match"])
    first = await pg_api.client.post("/v1/hashes", json={"hashes": _batch(1)}, headers=submit)
    assert first.status_code == 200
    outcomes = Outcomes(acknowledged=[1])

    await _pg_admin(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
    try:
        await _terminate_connections(database)
        readyz = await pg_api.client.get("/readyz")
        assert readyz.status_code == 503
        assert readyz.json()["status"] == "database_unavailable"
        for start in (100, 200, 300):
            response = await pg_api.client.post(
                "/v1/hashes", json={"hashes": _batch(start)}, headers=submit
            )
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "database_unavailable"
            assert response.headers["Retry-After"] == "1"
            outcomes.refused.append(start)
        # A match needs its audit event committed: refused too, not answered unaudited.
        response = await pg_api.client.post(
            "/v1/match",
            json={"queries": [{"signal_type": "pdq", "value": pdq_value(1)}]},
            headers=match,
        )
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "database_unavailable"
        await asyncio.sleep(1)
    finally:
        await _pg_admin(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')

    await _eventually(lambda: _ready(pg_api), 10)
    response = await pg_api.client.post("/v1/hashes", json={"hashes": _batch(400)}, headers=submit)
    assert response.status_code == 200
    outcomes.acknowledged.append(400)
    await _nothing_acknowledged_lost(pg_api, outcomes)
    assert (await pg_api.client.get("/readyz")).json()["feed"]["last_poll_seconds_ago"] < 2


LOCK_HOLDER = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("COMMIT")
"""


async def test_a_locked_sqlite_file_gives_bounded_waits_and_503(
    tmp_path: Path, api_factory: Callable[[Settings], Awaitable[Api]]
) -> None:
    path = tmp_path / "locked.db"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, url)
    api = await api_factory(
        Settings(dev_mode=True, database_url=url, sqlite_busy_timeout_seconds=0.5)
    )
    await api.add_member("alpha")
    submit = api.auth("alpha", ["hashes:submit"])
    holder = subprocess.Popen(  # noqa: ASYNC220 (started once, read one line)
        [sys.executable, "-c", LOCK_HOLDER, str(path), "4"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        outcomes = Outcomes()
        for start in (100, 200):
            started = time.monotonic()
            response = await api.client.post(
                "/v1/hashes", json={"hashes": _batch(start)}, headers=submit
            )
            assert time.monotonic() - started < 3, "the wait for the lock was not bounded"
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "database_unavailable"
            outcomes.refused.append(start)
        assert holder.wait(timeout=10) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    response = await api.client.post("/v1/hashes", json={"hashes": _batch(300)}, headers=submit)
    assert response.status_code == 200
    outcomes.acknowledged.append(300)
    await _nothing_acknowledged_lost(api, outcomes)
