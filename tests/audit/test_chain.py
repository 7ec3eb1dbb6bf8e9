"""The audit chain: each event's digest covers its contents and its predecessor's digest.

Covers the encoding (offline, no database), verification through the API and offline from
an export, tampering behind the application's back, 200 concurrent writers, PostgreSQL's
append-only trigger, and the HMAC that stands in for unmatched queries.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError

from hashshare.audit.chain import GENESIS, canonical, link, verify
from hashshare.cli import main as cli
from tests.conftest import Api

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def _event(seq: int, **changes: Any) -> dict[str, Any]:
    event = {
        "seq": seq,
        "occurred_at": "2026-11-28T12:00:00.000001Z",
        "actor": "tester",
        "member_id": "alpha",
        "action": "match",
        "outcome": "ok",
        "request_id": f"r{seq}",
        "target_ids": [1, 2],
        "details": {"queries": 2, "note": "ü"},
    }
    event.update(changes)
    return event


def _chain(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    digest = GENESIS
    for event in events:
        digest = event["digest"] = link(digest, event)
    return events


# --- the encoding, offline ---------------------------------------------------------------


def test_canonical_encoding_is_sorted_compact_utf8_json_with_microsecond_utc_times() -> None:
    event = _event(1, occurred_at=datetime(2026, 11, 28, 12, 0, 0, 1, tzinfo=UTC))

    assert (
        canonical(event)
        == (
            '{"action":"match","actor":"tester","details":{"note":"ü","queries":2},'
            '"member_id":"alpha","occurred_at":"2026-11-28T12:00:00.000001Z","outcome":"ok",'
            '"request_id":"r1","seq":1,"target_ids":[1,2]}'
        ).encode()
    )


def test_a_digest_is_sha256_of_the_previous_digest_bytes_and_the_canonical_event() -> None:
    event = _event(1)
    expected = hashlib.sha256(bytes.fromhex(GENESIS) + canonical(event)).hexdigest()

    assert link(GENESIS, event) == expected


def test_an_intact_chain_verifies_to_its_head() -> None:
    events = _chain([_event(seq) for seq in range(1, 6)])

    verdict = verify(events)

    assert verdict.ok
    assert (verdict.events, verdict.head_seq, verdict.head_digest) == (5, 5, events[-1]["digest"])


def test_an_edited_event_is_reported_as_the_first_broken_link() -> None:
    events = _chain([_event(seq) for seq in range(1, 6)])
    events[2]["details"] = {"queries": 3, "note": "ü"}

    verdict = verify(events)

    assert not verdict.ok
    assert verdict.broken_seq == 3
    assert verdict.events == 2


def test_a_removed_event_is_reported_as_a_sequence_gap() -> None:
    events = _chain([_event(seq) for seq in range(1, 6)])
    del events[1]

    verdict = verify(events)

    assert not verdict.ok
    assert verdict.broken_seq == 2
    assert "gap" in (verdict.reason or "")


# --- through the service -----------------------------------------------------------------


async def _activity(api: Api) -> None:
    auth = api.auth("alpha")
    body = {"hashes": [{"signal_type": "pdq", "value": PDQ, "labels": ["attacker-manifesto"]}]}
    assert (await api.client.post("/v1/hashes", json=body, headers=auth)).status_code == 200
    query = {"queries": [{"signal_type": "pdq", "value": PDQ}]}
    assert (await api.client.post("/v1/match", json=query, headers=auth)).status_code == 200
    assert (await api.client.get("/v1/labels")).status_code == 401


async def test_every_event_carries_a_digest_and_the_chain_verifies(api: Api) -> None:
    await _activity(api)

    response = await api.client.get("/v1/audit/verify", headers=api.auth("alpha", "audit:read"))

    assert response.status_code == 200
    verdict = response.json()
    events = (await api.client.get("/v1/audit", headers=api.auth("alpha", "audit:read"))).json()
    assert verdict["ok"] is True
    assert verdict["events"] == verdict["head_seq"] == len(events["events"])
    assert verdict["head_digest"] == events["events"][0]["digest"]


async def test_verification_needs_the_audit_read_scope(api: Api) -> None:
    response = await api.client.get("/v1/audit/verify", headers=api.auth("alpha", "hashes:read"))

    assert response.status_code == 403


async def test_two_hundred_concurrent_writers_leave_one_unbroken_gapless_chain(api: Api) -> None:
    auth = api.auth("alpha", "hashes:match")
    body = {"queries": [{"signal_type": "md5", "value": "00" * 16}]}

    responses = await asyncio.gather(
        *(api.client.post("/v1/match", json=body, headers=auth) for _ in range(200))
    )

    assert {response.status_code for response in responses} == {200}
    verdict = (
        await api.client.get("/v1/audit/verify", headers=api.auth("alpha", "audit:read"))
    ).json()
    rows = await api.sql("SELECT id, action FROM audit_events ORDER BY id")
    assert sum(1 for _, action in rows if action == "match") == 200
    assert [row[0] for row in rows] == list(range(1, len(rows) + 1))
    assert verdict["ok"] is True
    assert verdict["events"] == verdict["head_seq"] == len(rows)


async def _tamper(api: Api, statement: str) -> None:
    """Change the log behind the application's back (on PostgreSQL, past its trigger)."""
    async with api.app.state.runtime.database.sessions() as session, session.begin():
        connection = await session.connection()
        if connection.dialect.name == "postgresql":
            await session.execute(_text("SET LOCAL session_replication_role = replica"))
        await session.execute(_text(statement))


def _text(statement: str) -> Any:
    from sqlalchemy import text

    return text(statement)


async def test_an_event_edited_in_the_database_is_found_by_the_api_and_offline(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _activity(api)
    await _tamper(api, "UPDATE audit_events SET actor = 'someone-else' WHERE id = 2")

    verdict = (
        await api.client.get("/v1/audit/verify", headers=api.auth("alpha", "audit:read"))
    ).json()
    assert verdict["ok"] is False
    assert verdict["broken_seq"] == 2

    export = tmp_path / "audit.jsonl"
    monkeypatch.setenv("HASHSHARE_DEV_MODE", "1")
    monkeypatch.setenv("HASHSHARE_DATABASE_URL", api.settings.database_url)
    # The CLI runs its own event loop, so it runs on a thread here.
    assert await asyncio.to_thread(cli, ["audit", "export", "--out", str(export)]) == 0
    assert await asyncio.to_thread(cli, ["audit", "verify", str(export)]) == 1
    assert json.loads(export.read_text().splitlines()[1])["actor"] == "someone-else"


async def test_offline_verification_reports_the_event_where_the_export_was_edited(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await _activity(api)
    response = await api.client.get("/v1/audit/export", headers=api.auth("alpha", "audit:read"))
    assert response.status_code == 200
    lines = response.text.splitlines()
    export = tmp_path / "audit.jsonl"
    export.write_text("\n".join(lines) + "\n")
    assert cli(["audit", "verify", str(export)]) == 0

    edited = json.loads(lines[2])
    edited["outcome"] = "denied"
    lines[2] = json.dumps(edited)
    export.write_text("\n".join(lines) + "\n")
    capsys.readouterr()

    assert cli(["audit", "verify", str(export)]) == 1
    assert "BROKEN at event 3" in capsys.readouterr().out


async def test_events_removed_from_the_end_are_detected_against_the_head(api: Api) -> None:
    await _activity(api)
    last = (await api.sql("SELECT max(id) FROM audit_events"))[0][0]
    await _tamper(api, f"DELETE FROM audit_events WHERE id = {last}")  # noqa: S608

    verdict = (
        await api.client.get("/v1/audit/verify", headers=api.auth("alpha", "audit:read"))
    ).json()

    assert verdict["ok"] is False
    assert verdict["broken_seq"] == last
    assert "removed" in verdict["reason"]


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_events SET actor = 'x' WHERE id = 1", "DELETE FROM audit_events WHERE id = 1"],
)
async def test_postgresql_refuses_to_update_or_delete_audit_events(
    api: Api, statement: str
) -> None:
    if api.settings.database_url.startswith("sqlite"):
        pytest.skip("the append-only trigger is PostgreSQL's")
    await _activity(api)

    with pytest.raises(DBAPIError, match="append-only"):
        await api.sql(statement)
    assert (await api.sql("SELECT actor FROM audit_events WHERE id = 1"))[0][0] is not None


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_checkpoints SET seq = 0", "DELETE FROM audit_checkpoints"],
)
async def test_postgresql_refuses_to_update_or_delete_published_checkpoints(
    api: Api, statement: str
) -> None:
    if api.settings.database_url.startswith("sqlite"):
        pytest.skip("the append-only trigger is PostgreSQL's")
    await _activity(api)
    auditor = api.auth("alpha", "audit:read")
    assert (await api.client.get("/v1/audit/checkpoint", headers=auditor)).status_code == 200

    with pytest.raises(DBAPIError, match="append-only"):
        await api.sql(statement)
    assert len(await api.sql("SELECT id FROM audit_checkpoints")) == 1


# --- query privacy ------------------------------------------------------------------------


async def test_an_unmatched_query_is_kept_only_as_a_keyed_digest(api: Api) -> None:
    unknown = "0f" * 32
    auth = api.auth("alpha")
    body = {"hashes": [{"signal_type": "pdq", "value": PDQ, "labels": ["attacker-manifesto"]}]}
    await api.client.post("/v1/hashes", json=body, headers=auth)
    queries = [{"signal_type": "pdq", "value": PDQ}, {"signal_type": "pdq", "value": unknown}]

    response = await api.client.post("/v1/match", json={"queries": queries}, headers=auth)

    assert response.status_code == 200
    row = (await api.sql("SELECT details, target_ids FROM audit_events WHERE action = 'match'"))[0]
    details = row[0] if isinstance(row[0], dict) else json.loads(row[0])
    assert api.settings.audit_key is not None
    expected = hmac.new(
        api.settings.audit_key.encode(), b"pdq\x00" + bytes.fromhex(unknown), hashlib.sha256
    ).hexdigest()
    assert details["unmatched_query_hmacs"] == [expected]
    everything = json.dumps([details, row[1]])
    assert unknown not in everything
    assert unknown.upper() not in everything
