"""Test fixtures: real databases built by the migrations, a fresh app per test.

Every storage test runs twice: on SQLite (a temporary file) and on PostgreSQL. The
PostgreSQL server is named by HASHSHARE_TEST_POSTGRES_URL (default: the local server, database
`test`); each run creates its own database there (named after its process id) and drops it
afterwards; a run killed before it could drops nothing, so the next run drops it. Without a
reachable server the PostgreSQL half is skipped and the summary says so, unless
HASHSHARE_REQUIRE_POSTGRES=1 (set by .ci/run), which turns that into a failure.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from hashshare.app import create_app
from hashshare.audit.chain import GENESIS
from hashshare.auth.scopes import ALL_SCOPES
from hashshare.auth.tokens import issue_token
from hashshare.config import Settings
from hashshare.db import create_engine, pg_connect
from hashshare.matching.hits import HitCache
from hashshare.matching.index import build_index
from hashshare.migrations import upgrade
from hashshare.signals import REGISTRY

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
PG_URL = os.environ.get("HASHSHARE_TEST_POSTGRES_URL", DEFAULT_PG_URL)
REQUIRE_PG = os.environ.get("HASHSHARE_REQUIRE_POSTGRES") == "1"
# Production-mode settings need an audit key like any deployment.
AUDIT_KEY = "test-audit-key-of-at-least-thirty-two-bytes"
TABLES = (
    "audit_checkpoints",
    "audit_events",
    "changes",
    "edge_reports",
    "feedback",
    "contributions",
    "hashes",
    "token_revocations",
    "members",
)

_pg_skip_reason: str | None = None


async def _pg_admin(sql: str, url: str = PG_URL) -> None:
    conn = await pg_connect(url, connect_seconds=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _drop_abandoned_databases() -> None:
    """Drop the databases of earlier runs on this machine whose process is gone (a run
    killed before its teardown). The owner's pid is part of each database's name."""
    conn = await pg_connect(PG_URL, connect_seconds=5)
    try:
        names = await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE 'hashshare\\_test\\_p%'"
        )
        for (name,) in names:
            pid = name.removeprefix("hashshare_test_p").split("_")[0]
            if pid.isdigit() and not _alive(int(pid)):
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _create_pg_database() -> str | None:
    """Create a private database for this run; return its URL, or None if unreachable."""
    global _pg_skip_reason
    name = f"hashshare_test_p{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        asyncio.run(_drop_abandoned_databases())
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        _pg_skip_reason = f"PostgreSQL at {make_url(PG_URL).render_as_string()} unreachable: {exc}"
        if REQUIRE_PG:
            pytest.exit(f"HASHSHARE_REQUIRE_POSTGRES=1 but {_pg_skip_reason}", returncode=3)
        return None
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    url = _create_pg_database()
    if url is None:
        pytest.skip(_pg_skip_reason or "PostgreSQL unavailable")
    upgrade(url)
    yield url
    name = make_url(url).database
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("db") / "hashshare.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    return url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def _emptying_engines() -> AsyncIterator[dict[str, AsyncEngine]]:
    """An engine per database for emptying it between tests, kept for the run."""
    engines: dict[str, AsyncEngine] = {}
    yield engines
    for engine in engines.values():
        await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def _migrated_url(request: pytest.FixtureRequest) -> str:
    """A migrated database of each backend."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
async def database_url(_migrated_url: str, _emptying_engines: dict[str, AsyncEngine]) -> str:
    """A migrated, empty database of each backend."""
    url = _migrated_url
    engine = _emptying_engines.get(url)
    if engine is None:
        engine = _emptying_engines[url] = create_engine(url)
    await _truncate(engine)
    return url


async def _truncate(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        else:
            for table in TABLES:
                await conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608
        # The audit chain starts again from its genesis.
        await conn.execute(
            text("UPDATE audit_head SET seq = 0, digest = :genesis"), {"genesis": GENESIS}
        )


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(dev_mode=True, database_url=database_url)


@dataclass
class Api:
    """An HTTP client of a running app, with helpers to make members and tokens."""

    client: httpx.AsyncClient
    settings: Settings
    app: Any

    def token(
        self, member: str, scopes: str | list[str] = "*", sub: str = "tester", ttl: int = 600
    ) -> str:
        wanted = (
            sorted(ALL_SCOPES)
            if scopes == "*"
            else (scopes.split() if isinstance(scopes, str) else scopes)
        )
        return issue_token(self.settings, member=member, scopes=wanted, sub=sub, ttl_seconds=ttl)

    def auth(
        self, member: str, scopes: str | list[str] = "*", sub: str = "tester"
    ) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(member, scopes, sub)}"}

    async def add_member(self, *member_ids: str) -> None:
        """Add members (named after their ids) in one transaction."""
        from hashshare.auth.principal import Actor

        runtime = self.app.state.runtime
        async with runtime.database.unit() as uow:
            for member_id in member_ids:
                await runtime.members.add(
                    uow, Actor("test", None, None), member_id, member_id.title()
                )

    async def sql(self, statement: str, **params: Any) -> list[Any]:
        async with self.app.state.runtime.database.sessions() as session, session.begin():
            result = await session.execute(text(statement), params)
            return list(result.all()) if result.returns_rows else []


async def _start_app(settings: Settings) -> tuple[Api, Callable[[], Awaitable[None]]]:
    """Start an app (lifespan included); return it and what stops it."""
    app = create_app(settings)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")

    async def stop() -> None:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)

    return Api(client=client, settings=settings, app=app), stop


@pytest.fixture
async def api_factory() -> AsyncIterator[Callable[[Settings], Awaitable[Api]]]:
    """Start apps (lifespan included) for given settings; stop them after the test."""
    stops: list[Callable[[], Awaitable[None]]] = []

    async def start(settings: Settings) -> Api:
        started, stop = await _start_app(settings)
        stops.append(stop)
        return started

    yield start
    for stop in reversed(stops):
        await stop()


@dataclass
class SharedApps:
    """Running apps by database URL, and what stops them."""

    apps: dict[str, Api]
    stops: list[Callable[[], Awaitable[None]]]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def _shared_apps() -> AsyncIterator[SharedApps]:
    """One running app per database, shared by the tests that take `api`: starting an app
    (engine, index load, feed follower, audit writer) per test was most of a test's time."""
    shared = SharedApps(apps={}, stops=[])
    yield shared
    for stop in reversed(shared.stops):
        await stop()


async def _empty_again(api: Api) -> None:
    """Bring a shared app in step with its emptied database: an empty in-memory set that
    follows the change feed from its start."""
    runtime = api.app.state.runtime
    await runtime.follower.stop()
    runtime.holder.install(
        {name: build_index(signal_type) for name, signal_type in REGISTRY.items()}, 0.0
    )
    runtime.holder.hits = HitCache(runtime.settings.hit_cache_size)
    runtime.follower.start_at(0)
    await runtime.follower.start()


@pytest.fixture
async def api(settings: Settings, _shared_apps: SharedApps) -> Api:
    """A running app with members `alpha` and `beta`, on an empty database."""
    started = _shared_apps.apps.get(settings.database_url)
    if started is None:
        started, stop = await _start_app(settings)
        _shared_apps.apps[settings.database_url] = started
        _shared_apps.stops.append(stop)
    else:
        await _empty_again(started)
    await started.add_member("alpha", "beta")
    # A shared app's access list may remember members of an earlier test.
    await started.app.state.runtime.access.refresh()
    return started


def pytest_sessionstart(session: pytest.Session) -> None:
    """With HASHSHARE_REQUIRE_POSTGRES=1 an unreachable server stops the run before any test,
    in the process that reports it (under pytest-xdist a worker's exit would only be a crash)."""
    if not REQUIRE_PG or hasattr(session.config, "workerinput"):
        return
    try:
        asyncio.run(_pg_admin("SELECT 1"))
    except Exception as exc:
        where = make_url(PG_URL).render_as_string()
        pytest.exit(f"HASHSHARE_REQUIRE_POSTGRES=1 but PostgreSQL at {where}: {exc}", returncode=3)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under `make test` (pytest-xdist, `--dist loadgroup`) the tests that run service
    processes share one worker, one after another: started side by side on two cores they
    would starve each other, and their real-time checks (freshness windows, readiness
    deadlines) would measure the machine instead of the service."""
    for item in items:
        if item.get_closest_marker("processes"):
            item.add_marker(pytest.mark.xdist_group("processes"))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _pg_skip_reason:
        terminalreporter.write_sep("!", "PostgreSQL half SKIPPED", red=True, bold=True)
        terminalreporter.write_line(_pg_skip_reason)
        terminalreporter.write_line(
            "Only the SQLite half ran. Start PostgreSQL or set HASHSHARE_TEST_POSTGRES_URL."
        )


ROOT = Path(__file__).resolve().parents[1]
