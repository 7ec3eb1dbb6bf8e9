"""Signed checkpoints of the audit chain, and verifying an export against one offline."""

from __future__ import annotations

import asyncio
import itertools
import json
import stat
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from hashshare.audit.actions import ACTIONS
from hashshare.audit.chain import GENESIS, link
from hashshare.audit.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_public_key,
    verify_checkpoint,
)
from hashshare.cli import main as cli
from hashshare.config import Settings
from tests.conftest import Api
from tests.values import pdq_value

AUDITOR = "audit:read"


async def _activity(api: Api, n: int) -> None:
    body = {
        "hashes": [{"signal_type": "pdq", "value": pdq_value(n), "labels": ["attacker-manifesto"]}]
    }
    response = await api.client.post("/v1/hashes", json=body, headers=api.auth("alpha"))
    assert response.status_code == 200
    query = {"queries": [{"signal_type": "pdq", "value": pdq_value(n)}]}
    assert (
        await api.client.post("/v1/match", json=query, headers=api.auth("alpha"))
    ).status_code == 200


async def _checkpoint(api: Api) -> dict[str, Any]:
    response = await api.client.get("/v1/audit/checkpoint", headers=api.auth("alpha", AUDITOR))
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


async def _export(api: Api) -> list[str]:
    response = await api.client.get("/v1/audit/export", headers=api.auth("alpha", AUDITOR))
    assert response.status_code == 200
    return response.text.splitlines()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {name: tmp_path / name for name in ("export.jsonl", "checkpoint.json", "key.pem")}


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _verify(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    status = cli(
        [
            "audit",
            "verify",
            str(files["export.jsonl"]),
            "--checkpoint",
            str(files["checkpoint.json"]),
            "--public-key",
            str(files["key.pem"]),
        ]
    )
    return status, capsys.readouterr().out


async def test_a_checkpoint_is_signed_by_the_service_key_and_recorded(api: Api) -> None:
    await _activity(api, 1)
    head = (await api.client.get("/v1/audit/verify", headers=api.auth("alpha", AUDITOR))).json()

    document = await _checkpoint(api)

    assert (document["seq"], document["head_digest"]) == (head["head_seq"], head["head_digest"])
    checkpoint = Checkpoint.from_dict(document)
    verify_checkpoint(checkpoint, load_public_key(document["public_key"].encode()))
    events = (
        await api.client.get(
            "/v1/audit", params={"action": "audit.checkpoint"}, headers=api.auth("alpha", AUDITOR)
        )
    ).json()["events"]
    assert [event["details"]["seq"] for event in events] == [checkpoint.seq]
    assert events[0]["seq"] == checkpoint.seq + 1  # recorded after the head it signs
    forged = Checkpoint(
        checkpoint.seq + 1,
        checkpoint.head_digest,
        checkpoint.issued_at,
        checkpoint.key_id,
        checkpoint.signature,
    )
    with pytest.raises(CheckpointError, match="signature"):
        verify_checkpoint(forged, load_public_key(document["public_key"].encode()))


async def test_a_checkpoint_needs_the_audit_scope(api: Api) -> None:
    response = await api.client.get(
        "/v1/audit/checkpoint", headers=api.auth("alpha", "hashes:match")
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"


async def test_an_export_is_verified_against_a_checkpoint(
    api: Api, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    await _activity(api, 1)
    document = await _checkpoint(api)
    files["checkpoint.json"].write_text(json.dumps(document))
    files["key.pem"].write_text(document["public_key"])
    await _activity(api, 2)  # the log goes on after the checkpoint
    lines = await _export(api)
    seq = document["seq"]

    _write(files["export.jsonl"], lines)
    status, out = _verify(files, capsys)
    assert status == 0, out
    assert f"agrees with the checkpoint at event {seq}" in out

    _write(files["export.jsonl"], lines[: seq - 1])  # the newest events cut off
    status, out = _verify(files, capsys)
    assert status == 1
    assert out.startswith(f"TRUNCATED: the export ends at event {seq - 1}")

    _write(files["export.jsonl"], [])  # an empty file proves nothing
    status, out = _verify(files, capsys)
    assert status == 1
    assert out.startswith("TRUNCATED: the export ends at event 0")

    # History rewritten consistently (every digest recomputed): the chain verifies on its
    # own, but no longer agrees with what the service signed.
    events = [json.loads(line) for line in lines]
    events[0]["actor"] = "someone-else"
    digest = GENESIS
    for event in events:
        event["digest"] = digest = link(digest, event)
    _write(files["export.jsonl"], [json.dumps(event) for event in events])
    status, out = _verify(files, capsys)
    assert status == 1
    assert out.startswith(f"REWRITTEN: event {seq} has digest")


async def test_a_forged_or_foreign_checkpoint_is_refused(
    api: Api, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    await _activity(api, 1)
    document = await _checkpoint(api)
    _write(files["export.jsonl"], await _export(api))
    files["key.pem"].write_text(document["public_key"])

    files["checkpoint.json"].write_text(json.dumps({**document, "seq": document["seq"] - 1}))
    status, out = _verify(files, capsys)
    assert (status, out.strip()) == (
        1,
        "BAD CHECKPOINT: the checkpoint's signature does not verify",
    )

    other = files["key.pem"].with_name("other.pem")
    assert cli(["audit", "keygen", str(other)]) == 0
    files["key.pem"].write_text(capsys.readouterr().out.split(":\n", 1)[1])
    files["checkpoint.json"].write_text(json.dumps(document))
    status, out = _verify(files, capsys)
    assert status == 1
    assert out.startswith(f"BAD CHECKPOINT: the checkpoint names key {document['key_id']}")


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("[1, 2]", "BROKEN at line 2: not an audit event (a JSON list, not an object)"),
        ('{"seq": 2}', "BROKEN at line 2: not an audit event (missing occurred_at, actor,"),
        ("checkpoint", "BROKEN at line 2: not an audit event (it is a checkpoint;"),
        ("not json", "BROKEN at line 2: not JSON"),
    ],
)
async def test_a_line_that_is_not_an_event_is_reported_as_what_it_is(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, said: str
) -> None:
    await _activity(api, 1)
    if line == "checkpoint":
        line = json.dumps(await _checkpoint(api))
    lines = await _export(api)
    export = tmp_path / "export.jsonl"
    _write(export, [lines[0], line, *lines[1:]])
    capsys.readouterr()
    assert cli(["audit", "verify", str(export)]) == 1
    assert capsys.readouterr().out.startswith(said)


def test_an_empty_export_is_not_ok_without_a_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "empty.jsonl"
    export.write_text("")
    assert cli(["audit", "verify", str(export)]) == 1
    assert capsys.readouterr().out.startswith("EMPTY: the file holds no events")


async def test_the_configured_key_signs_and_its_public_half_is_printed(
    api: Api,
    api_factory: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = tmp_path / "checkpoint-key.pem"
    assert cli(["audit", "keygen", str(key)]) == 0
    printed = capsys.readouterr().out.split(":\n", 1)[1]
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert cli(["audit", "keygen", str(key)]) == 1  # never overwritten
    monkeypatch.setenv("HASHSHARE_DEV_MODE", "1")
    monkeypatch.setenv("HASHSHARE_CHECKPOINT_KEY_FILE", str(key))
    capsys.readouterr()
    assert await asyncio.to_thread(cli, ["audit", "public-key"]) == 0
    assert capsys.readouterr().out == printed

    keyed = await api_factory(
        Settings(dev_mode=True, database_url=api.settings.database_url, checkpoint_key_file=key)
    )
    document = await _checkpoint(keyed)
    assert document["public_key"] == printed
    verify_checkpoint(Checkpoint.from_dict(document), load_public_key(printed.encode()))


async def test_an_unknown_action_filter_is_refused_with_the_list(api: Api) -> None:
    auditor = api.auth("alpha", AUDITOR)
    response = await api.client.get("/v1/audit", params={"action": "bogus"}, headers=auditor)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unknown_action"
    assert error["details"]["actions"] == sorted(ACTIONS)
    for action in sorted(ACTIONS):
        response = await api.client.get("/v1/audit", params={"action": action}, headers=auditor)
        assert response.status_code == 200


async def test_an_event_is_numbered_seq_in_the_api_and_in_exports(api: Api) -> None:
    await _activity(api, 1)
    auditor = api.auth("alpha", AUDITOR)
    listed = (await api.client.get("/v1/audit", headers=auditor)).json()["events"]
    exported = [json.loads(line) for line in await _export(api)]
    assert all("id" not in event for event in listed)
    assert sorted(event["seq"] for event in listed) == [event["seq"] for event in exported]
    assert {e["seq"]: e["digest"] for e in listed} == {e["seq"]: e["digest"] for e in exported}


# --- published checkpoints: on the schedule and on request -----------------------------------

INTERVAL_MINUTES = 0.01  # 0.6 s


async def _published(api: Api, **params: Any) -> dict[str, Any]:
    response = await api.client.get(
        "/v1/audit/checkpoints", params=params, headers=api.auth("alpha", AUDITOR)
    )
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def _scheduled(api: Api, at_least: int) -> list[dict[str, Any]]:
    """The scheduled checkpoints, oldest first, once there are `at_least` of them."""
    for _ in range(1000):
        page = await _published(api, limit=1000)
        found = [c for c in page["checkpoints"] if c["trigger"] == "schedule"]
        if len(found) >= at_least:
            return found[::-1]
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {at_least} scheduled checkpoints after 1,000 looks")


def _gap(earlier: dict[str, Any], later: dict[str, Any]) -> float:
    def parse(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    return (parse(later["issued_at"]) - parse(earlier["issued_at"])).total_seconds()


async def _scheduled_app(api: Api, api_factory: Any) -> Api:
    update = {"checkpoint_interval_minutes": INTERVAL_MINUTES}
    started: Api = await api_factory(api.settings.model_copy(update=update))
    return started


async def test_checkpoints_are_published_on_the_schedule_signed_and_recorded(
    api: Api, api_factory: Any
) -> None:
    scheduled = await _scheduled_app(api, api_factory)
    await _activity(scheduled, 1)
    key = load_public_key((await _checkpoint(scheduled))["public_key"].encode())
    found = await _scheduled(scheduled, 3)
    for checkpoint in found:
        verify_checkpoint(Checkpoint.from_dict(checkpoint), key)
    for earlier, later in itertools.pairwise(found):
        assert later["seq"] > earlier["seq"]  # the earlier one's own event comes after it
        assert _gap(earlier, later) >= INTERVAL_MINUTES * 60

    response = await scheduled.client.get(
        "/v1/audit",
        params={"action": "audit.checkpoint", "limit": 1000},
        headers=api.auth("alpha", AUDITOR),
    )
    recorded = {
        (event["details"]["seq"], event["details"]["head_digest"]): event
        for event in response.json()["events"]
    }
    for checkpoint in found:
        event = recorded[(checkpoint["seq"], checkpoint["head_digest"])]
        assert event["details"]["trigger"] == "schedule"
        assert event["actor"] == "hashshare-checkpoint-schedule"
        assert event["seq"] > checkpoint["seq"]


async def test_replicas_share_one_schedule(api: Api, api_factory: Any) -> None:
    """Two processes on one database, both due every interval: one checkpoint per interval,
    not one per replica."""
    first = await _scheduled_app(api, api_factory)
    await _scheduled_app(api, api_factory)
    found = await _scheduled(first, 5)
    for earlier, later in itertools.pairwise(found):
        assert _gap(earlier, later) >= INTERVAL_MINUTES * 60


async def test_an_export_verifies_against_a_scheduled_checkpoint(
    api: Api, api_factory: Any, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    scheduled = await _scheduled_app(api, api_factory)
    await _activity(scheduled, 1)
    files["key.pem"].write_text((await _checkpoint(scheduled))["public_key"])
    await _scheduled(scheduled, 1)
    response = await scheduled.client.get(
        "/v1/audit/checkpoints/latest", headers=api.auth("alpha", AUDITOR)
    )
    assert response.status_code == 200
    files["checkpoint.json"].write_text(response.text)
    _write(files["export.jsonl"], await _export(scheduled))
    status, out = _verify(files, capsys)
    assert status == 0, out
    assert f"agrees with the checkpoint at event {response.json()['seq']}" in out


async def test_the_latest_and_the_list_of_published_checkpoints(api: Api) -> None:
    auditor = api.auth("alpha", AUDITOR)
    none_yet = await api.client.get("/v1/audit/checkpoints/latest", headers=auditor)
    assert none_yet.status_code == 404
    assert none_yet.json()["error"]["code"] == "no_checkpoint"
    assert await _published(api) == {"checkpoints": [], "next_cursor": None}

    first = await _checkpoint(api)
    second = await _checkpoint(api)
    assert first["trigger"] == second["trigger"] == "request"
    assert second["id"] > first["id"]
    latest = (await api.client.get("/v1/audit/checkpoints/latest", headers=auditor)).json()
    assert latest == {name: value for name, value in second.items() if name != "public_key"}

    page = await _published(api, limit=1)
    assert [c["id"] for c in page["checkpoints"]] == [second["id"]]
    rest = await _published(api, limit=1, cursor=page["next_cursor"])
    assert [c["id"] for c in rest["checkpoints"]] == [first["id"]]
    assert (await _published(api, limit=1, cursor=rest["next_cursor"]))["checkpoints"] == []


@pytest.mark.parametrize("path", ["/v1/audit/checkpoints", "/v1/audit/checkpoints/latest"])
async def test_published_checkpoints_need_the_audit_scope(api: Api, path: str) -> None:
    response = await api.client.get(path, headers=api.auth("alpha", "hashes:match"))
    assert response.status_code == 403
