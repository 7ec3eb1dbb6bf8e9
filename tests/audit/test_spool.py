"""SQLite's audit spool: a match answers while another write holds the database, its event
is on disk at once and joins the chain afterwards, in order, exactly once."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hashshare.audit.models import NewEvent
from hashshare.audit.spool import encode, spool_path
from hashshare.audit.writer import AuditWriter
from hashshare.auth.principal import Actor
from hashshare.config import Settings
from hashshare.db import create_engine
from hashshare.migrations import upgrade
from tests.conftest import Api, _start_app

PDQ = "f0" * 32
LABELS = ["attacker-manifesto"]
# Far longer than any test waits: a match that waited for the lock would fail the test.
BUSY_SECONDS = 60.0
ANSWER_WITHIN_SECONDS = 20.0

StartApi = Callable[[Settings], Awaitable[Api]]


async def _fresh(tmp_path: Path, start: StartApi, busy: float = BUSY_SECONDS) -> tuple[Api, Path]:
    path = tmp_path / "spool.db"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, url)
    api = await start(Settings(dev_mode=True, database_url=url, sqlite_busy_timeout_seconds=busy))
    await api.add_member("alpha")
    await api.app.state.runtime.access.refresh()
    return api, path


@contextmanager
def _write_lock(path: Path) -> Iterator[sqlite3.Connection]:
    """Hold the database's write lock, as a bulk submission does for its transaction."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield holder
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def _spooled(path: Path) -> list[dict[str, Any]]:
    spool = spool_path(f"sqlite:///{path}")
    assert spool is not None and spool.exists()
    with sqlite3.connect(spool) as connection:
        rows = connection.execute("SELECT event FROM spooled ORDER BY id").fetchall()
    return [json.loads(row[0]) for row in rows]


async def _match(api: Api, queries: int = 1) -> dict[str, Any]:
    body = {"queries": [{"signal_type": "pdq", "value": PDQ}] * queries}
    response = await asyncio.wait_for(
        api.client.post("/v1/match", json=body, headers=api.auth("alpha", "hashes:match")),
        ANSWER_WITHIN_SECONDS,
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def _chain(api: Api) -> list[dict[str, Any]]:
    """Every event, oldest first, after the chain has been verified."""
    headers = api.auth("alpha", "audit:read")
    verdict = await api.client.get("/v1/audit/verify", headers=headers)
    assert verdict.status_code == 200 and verdict.json()["ok"], verdict.text
    response = await api.client.get("/v1/audit", params={"limit": 500}, headers=headers)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events[::-1]


def _spool_counters(text: str) -> dict[str, float]:
    """hashshare_audit_spool_events_total by stage (spooled, appended)."""
    return {
        sample.labels["stage"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "hashshare_audit_spool_events_total"
    }


async def test_a_match_answers_while_a_write_holds_sqlite_and_its_event_joins_the_chain_after(
    tmp_path: Path, api_factory: StartApi
) -> None:
    api, path = await _fresh(tmp_path, api_factory)
    submitted = await api.client.post(
        "/v1/hashes",
        json={"hashes": [{"signal_type": "pdq", "value": PDQ, "labels": LABELS}]},
        headers=api.auth("alpha", "hashes:submit"),
    )
    assert submitted.status_code == 200, submitted.text
    metrics = api.auth("alpha", "admin")
    counted = _spool_counters((await api.client.get("/metrics", headers=metrics)).text)

    with _write_lock(path):
        answer = await _match(api)
        assert answer["matched_queries"] == 1
        # On disk before the answer left.
        spooled = _spooled(path)
        assert [(e["action"], e["details"]["queries"]) for e in spooled] == [("match", 1)]
        released_at = datetime.now(UTC)

    await api.app.state.runtime.audit.drain_spool()
    events = await _chain(api)
    assert [e["action"] for e in events] == ["member.add", "hashes.submit", "match"]
    match = events[-1]
    assert match["details"]["matched_queries"] == 1
    assert datetime.fromisoformat(match["occurred_at"]) < released_at  # when it was recorded
    assert _spooled(path) == []
    after = _spool_counters((await api.client.get("/metrics", headers=metrics)).text)
    for stage in ("spooled", "appended"):
        assert after[stage] == counted.get(stage, 0) + 1, (stage, counted, after)


async def test_events_spooled_behind_others_reach_the_chain_in_the_order_recorded(
    tmp_path: Path, api_factory: StartApi
) -> None:
    # A short busy timeout: the drain gives up on the held lock and waits before retrying,
    # so the lock is free again before it has moved the first event.
    api, path = await _fresh(tmp_path, api_factory, busy=0.05)
    with _write_lock(path):
        await _match(api, queries=1)
        await asyncio.sleep(0.3)
    await _match(api, queries=2)  # the lock is free, but an earlier event is still spooled
    await api.app.state.runtime.audit.drain_spool()
    await _match(api, queries=3)  # nothing spooled: straight into the chain
    events = [e for e in await _chain(api) if e["action"] == "match"]
    assert [e["details"]["queries"] for e in events] == [1, 2, 3]
    assert _spooled(path) == []


def _event(marker: int) -> NewEvent:
    return NewEvent(
        actor="pipeline",
        member_id="alpha",
        request_id=f"request-{marker}",
        action="match",
        outcome="ok",
        details={"queries": marker},
    )


async def test_a_restart_appends_each_spooled_event_once(
    tmp_path: Path, api_factory: StartApi
) -> None:
    """A crash after the drain committed entry 11 but before it deleted it from the spool:
    the next start appends 12 and 13, not 11 again."""
    path = tmp_path / "spool.db"
    await asyncio.to_thread(upgrade, f"sqlite+aiosqlite:///{path}")
    spool = spool_path(f"sqlite:///{path}")
    assert spool is not None
    now = datetime.now(UTC)
    with sqlite3.connect(spool) as connection:
        connection.execute(
            "CREATE TABLE spooled (id INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL)"
        )
        connection.executemany(
            "INSERT INTO spooled (id, event) VALUES (?, ?)",
            [(marker, encode(_event(marker), now)) for marker in (11, 12, 13)],
        )
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE audit_head SET spool_mark = 11")

    api, _ = await _fresh(tmp_path, api_factory)
    await api.app.state.runtime.audit.drain_spool()
    events = [e for e in await _chain(api) if e["action"] == "match"]
    assert [(e["details"]["queries"], e["request_id"]) for e in events] == [
        (12, "request-12"),
        (13, "request-13"),
    ]
    assert _spooled(path) == []


async def test_a_removed_spool_file_does_not_reuse_ids_the_chain_has_taken(
    tmp_path: Path, api_factory: StartApi
) -> None:
    path = tmp_path / "spool.db"
    await asyncio.to_thread(upgrade, f"sqlite+aiosqlite:///{path}")
    with sqlite3.connect(path) as connection:  # 50 entries were drained by an earlier run
        connection.execute("UPDATE audit_head SET spool_mark = 50")
    api, _ = await _fresh(tmp_path, api_factory)
    with _write_lock(path):
        await _match(api, queries=4)
    await api.app.state.runtime.audit.drain_spool()
    events = [e for e in await _chain(api) if e["action"] == "match"]
    assert [e["details"]["queries"] for e in events] == [4]


async def test_a_writer_never_started_waits_for_the_lock_as_a_request_does(tmp_path: Path) -> None:
    """A tool that records without starting the writer has no spool: it waits out a short
    hold of the lock (the busy timeout) and appends to the chain."""
    path = tmp_path / "tool.db"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    writer = AuditWriter(engine)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    asyncio.get_running_loop().call_later(0.3, holder.execute, "ROLLBACK")
    try:
        await writer.record(Actor("tool", None, None), "member.add")
    finally:
        await writer.stop()
        await engine.dispose()
        holder.close()
    with sqlite3.connect(path) as connection:
        actions = connection.execute("SELECT action FROM audit_events").fetchall()
    assert actions == [("member.add",)]
    spool = spool_path(url)
    assert spool is not None and not spool.exists()


def _mark(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        return int(connection.execute("SELECT spool_mark FROM audit_head").fetchone()[0])


async def test_a_drain_appends_only_what_the_mark_does_not_cover_and_moves_the_mark(
    tmp_path: Path, api_factory: StartApi
) -> None:
    """Entry 1 counts as appended (a drain committed it, then failed to delete it): the next
    drain appends 2 and 3 only, and the mark then covers all three."""
    api, path = await _fresh(tmp_path, api_factory)
    with _write_lock(path) as holder:
        for queries in (1, 2, 3):
            await _match(api, queries=queries)
        spool = spool_path(f"sqlite:///{path}")
        assert spool is not None
        with sqlite3.connect(spool) as connection:
            ids = [row[0] for row in connection.execute("SELECT id FROM spooled ORDER BY id")]
        assert len(ids) == 3
        holder.execute("UPDATE audit_head SET spool_mark = ?", (ids[0],))
        holder.execute("COMMIT")
        holder.execute("BEGIN IMMEDIATE")  # held again until the block ends
    await api.app.state.runtime.audit.drain_spool()
    events = [e for e in await _chain(api) if e["action"] == "match"]
    assert [e["details"]["queries"] for e in events] == [2, 3]
    assert _mark(path) == ids[-1]
    assert _spooled(path) == []


async def test_two_processes_sharing_a_database_spool_and_drain_each_event_once(
    tmp_path: Path, api_factory: StartApi
) -> None:
    first, path = await _fresh(tmp_path, api_factory)
    second = await api_factory(first.settings)
    with _write_lock(path):
        answers = await asyncio.gather(
            *(_match(api, queries=n) for n in range(1, 9) for api in (first, second))
        )
        assert len(answers) == 16
        assert len(_spooled(path)) == 16
    await asyncio.gather(
        first.app.state.runtime.audit.drain_spool(), second.app.state.runtime.audit.drain_spool()
    )
    events = [e for e in await _chain(first) if e["action"] == "match"]
    assert sorted(e["details"]["queries"] for e in events) == sorted(list(range(1, 9)) * 2)
    assert len({e["request_id"] for e in events}) == 16
    assert _spooled(path) == []


async def test_stopping_while_the_drain_waits_for_the_lock_leaves_the_database_unlocked(
    tmp_path: Path,
) -> None:
    """A stop waits for a drain in progress instead of cancelling it (a drain cancelled while
    waiting would take the lock afterwards, on a connection closed with it held)."""
    path = tmp_path / "spool.db"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, url)
    api, stop = await _start_app(
        Settings(dev_mode=True, database_url=url, sqlite_busy_timeout_seconds=BUSY_SECONDS)
    )
    await api.add_member("alpha")
    await api.app.state.runtime.access.refresh()
    with _write_lock(path):
        await _match(api)
        await asyncio.sleep(0.2)  # the drain is waiting for the lock
        stopping = asyncio.create_task(stop())
        await asyncio.sleep(0.2)
    await asyncio.wait_for(stopping, ANSWER_WITHIN_SECONDS)
    probe = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        probe.execute("BEGIN IMMEDIATE")  # nothing holds the lock any more
        probe.execute("ROLLBACK")
        actions = [row[0] for row in probe.execute("SELECT action FROM audit_events")]
    finally:
        probe.close()
    assert actions.count("match") == 1
    assert _spooled(path) == []


async def test_an_unreadable_entry_is_set_aside_and_does_not_hold_up_the_ones_after_it(
    tmp_path: Path, api_factory: StartApi, caplog: pytest.LogCaptureFixture
) -> None:
    api, path = await _fresh(tmp_path, api_factory)
    spool = spool_path(f"sqlite:///{path}")
    assert spool is not None
    with _write_lock(path):
        await _match(api, queries=1)
        with sqlite3.connect(spool) as connection:  # as another version might have written
            connection.execute("INSERT INTO spooled (event) VALUES ('{\"format\": 2}')")
        await _match(api, queries=2)
    await api.app.state.runtime.audit.drain_spool()
    events = [e for e in await _chain(api) if e["action"] == "match"]
    assert [e["details"]["queries"] for e in events] == [1, 2]
    assert _spooled(path) == []
    with sqlite3.connect(spool) as connection:
        kept = connection.execute("SELECT event FROM unreadable").fetchall()
    assert kept == [('{"format": 2}',)]
    assert any("cannot be read" in record.getMessage() for record in caplog.records)
