"""HASHSHARE_READ_DATABASE_URL: the reads that tolerate a replica's lag (statistics, the audit
log's list, verification and export, `report`, `audit export`) go to it; everything else stays
on the primary.

No replication here: the "replica" is a second database with different content (written
through an app of its own), so a figure shows which database answered.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from hashshare.cli import main
from hashshare.config import Settings
from hashshare.migrations import upgrade
from tests.conftest import Api, _pg_admin

StartApi = Callable[[Settings], Awaitable[Api]]
LABELS = ["attacker-manifesto"]


@pytest.fixture
def read_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A second migrated database beside the primary, of the same kind."""
    if database_url.startswith("sqlite"):
        url = f"sqlite+aiosqlite:///{tmp_path / 'replica.db'}"
        upgrade(url)
        yield url
        return
    name = f"{make_url(database_url).database}_read_{uuid.uuid4().hex[:6]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _submit(api: Api, member: str, signal_type: str, values: list[str]) -> None:
    body = {"hashes": [{"signal_type": signal_type, "value": v, "labels": LABELS} for v in values]}
    response = await api.client.post("/v1/hashes", json=body, headers=api.auth(member))
    assert response.status_code == 200, response.text


@pytest.fixture
async def apps(
    database_url: str, read_url: str, api_factory: StartApi
) -> AsyncIterator[tuple[Api, Api]]:
    """(primary app reading from the replica, the replica's own app); the replica holds two
    MD5 hashes of member `marker`, the primary one PDQ hash of `alpha`."""
    replica = await api_factory(Settings(dev_mode=True, database_url=read_url))
    await replica.add_member("marker")
    await _submit(replica, "marker", "md5", ["ab" * 16])
    await _submit(replica, "marker", "md5", ["cd" * 16])
    primary = await api_factory(
        Settings(dev_mode=True, database_url=database_url, read_database_url=read_url)
    )
    await primary.add_member("alpha")
    await _submit(primary, "alpha", "pdq", ["f0" * 32])
    yield primary, replica


async def test_statistics_are_read_from_the_read_database(apps: tuple[Api, Api]) -> None:
    primary, _ = apps
    response = await primary.client.get("/v1/stats", headers=primary.auth("alpha", "audit:read"))
    assert response.status_code == 200, response.text
    text = response.text
    assert '"md5"' in text and "marker" in text
    assert '"pdq"' not in text and "alpha" not in text


async def test_the_audit_log_is_listed_verified_and_exported_from_the_read_database(
    apps: tuple[Api, Api],
) -> None:
    primary, replica = apps
    headers = primary.auth("alpha", "audit:read")
    listed = await primary.client.get(
        "/v1/audit", params={"action": "hashes.submit"}, headers=headers
    )
    assert [event["member_id"] for event in listed.json()["events"]] == ["marker", "marker"]
    (replica_head,) = await replica.sql("SELECT seq FROM audit_head")
    (primary_head,) = await primary.sql("SELECT seq FROM audit_head")
    assert replica_head != primary_head
    verdict = (await primary.client.get("/v1/audit/verify", headers=headers)).json()
    assert (verdict["ok"], verdict["head_seq"]) == (True, replica_head[0])
    exported = await primary.client.get("/v1/audit/export", headers=headers)
    members = {json.loads(line)["member_id"] for line in exported.text.splitlines()}
    assert "marker" in members and "alpha" not in members


async def test_everything_else_reads_the_primary(apps: tuple[Api, Api]) -> None:
    primary, _ = apps
    headers = primary.auth("alpha")
    mine = await primary.client.get("/v1/contributions", headers=headers)
    assert [c["signal_type"] for c in mine.json()["contributions"]] == ["pdq"]
    matched = await primary.client.post(
        "/v1/match", json={"queries": [{"signal_type": "pdq", "value": "f0" * 32}]}, headers=headers
    )
    assert matched.json()["matched_queries"] == 1
    changes = await primary.client.get("/v1/changes", headers=headers)
    assert [c["signal_type"] for c in changes.json()["changes"]] == ["pdq"]
    # A refused request is audited on the primary, whatever route it was refused on.
    await primary.client.get("/v1/stats", headers=primary.auth("alpha", "hashes:match"))
    rows = await primary.sql("SELECT count(*) FROM audit_events WHERE action = 'auth.forbidden'")
    assert rows == [(1,)]


async def test_report_and_audit_export_commands_read_the_read_database(
    apps: tuple[Api, Api],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    primary, replica = apps
    monkeypatch.setenv("HASHSHARE_DEV_MODE", "1")
    monkeypatch.setenv("HASHSHARE_DATABASE_URL", primary.settings.database_url)
    monkeypatch.setenv("HASHSHARE_READ_DATABASE_URL", replica.settings.database_url)
    out = tmp_path / "audit.jsonl"
    # The commands run their own event loop: in a thread of their own here.
    assert await asyncio.to_thread(main, ["audit", "export", "--out", str(out)]) == 0
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert {event["member_id"] for event in events} == {None, "marker"}
    capsys.readouterr()
    report = ["report", "--period", "2026", "--format", "json"]
    assert await asyncio.to_thread(main, report) == 0
    assert json.loads(capsys.readouterr().out)["contributions_by_member"] == {"marker": 2}


def test_a_read_database_url_with_another_driver_is_refused() -> None:
    from hashshare.config import settings_problems

    _, problems = settings_problems(dev_mode=True, read_database_url="postgresql://db/x")
    assert any(problem.startswith("HASHSHARE_READ_DATABASE_URL must start") for problem in problems)
