"""`hashshare sync` against a real service process: a local copy kept up to date."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from hashshare.auth.tokens import issue_token
from hashshare.changes.sync import COPY_FILE, SyncError, sync
from hashshare.cli import main as cli
from hashshare.config import Settings
from tests.matching.test_replicas import headers as headers
from tests.matching.test_replicas import running_service

LABELS = ["attacker-manifesto"]


def _held(out: Path) -> dict[int, tuple[str, str]]:
    with sqlite3.connect(out / COPY_FILE) as connection:
        rows = connection.execute("SELECT hash_id, value, status FROM hashes").fetchall()
    return {hash_id: (value, status) for hash_id, value, status in rows}


def _submit(base_url: str, headers: dict[str, str], values: list[str]) -> list[int]:
    body = {"hashes": [{"signal_type": "md5", "value": v, "labels": LABELS} for v in values]}
    response = httpx.post(f"{base_url}/v1/hashes", json=body, headers=headers, timeout=30)
    assert response.status_code == 200
    return [item["hash_id"] for item in response.json()["results"]]


def test_sync_builds_a_copy_and_then_applies_only_new_changes(
    database_url: str, headers: dict[str, str], tmp_path: Path
) -> None:
    token = issue_token(
        Settings(dev_mode=True, database_url=database_url),
        member="alpha",
        scopes=["hashes:read"],
        sub="sync-test",
        ttl_seconds=600,
    )
    with running_service(database_url) as base_url:
        ids = _submit(base_url, headers, [f"{i:032x}" for i in range(1, 6)])

        first = sync(base_url, token, tmp_path, page_size=2)
        assert (first.applied, first.held) == (5, 5)
        assert _held(tmp_path) == {i: (f"{n:032x}", "active") for n, i in enumerate(ids, 1)}

        response = httpx.delete(f"{base_url}/v1/hashes/{ids[0]}", headers=headers, timeout=10)
        assert response.status_code == 200
        _submit(base_url, headers, ["ff" * 16])
        second = sync(base_url, token, tmp_path)

    assert second.applied == 2
    assert second.held == 5
    held = _held(tmp_path)
    assert ids[0] not in held
    assert ("ff" * 16, "active") in held.values()
    assert int(second.cursor) > int(first.cursor)


def test_sync_with_a_bad_token_fails_with_the_service_error_and_keeps_the_copy(
    database_url: str, headers: dict[str, str], tmp_path: Path
) -> None:
    with (
        running_service(database_url) as base_url,
        pytest.raises(SyncError, match="401 \\(malformed_token"),
    ):
        sync(base_url, "not-a-token", tmp_path)
    assert _held(tmp_path) == {}


def test_the_sync_command_resumes_from_its_saved_cursor(
    database_url: str, headers: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = issue_token(
        Settings(dev_mode=True, database_url=database_url),
        member="alpha",
        scopes=["hashes:read"],
        sub="sync-cli",
        ttl_seconds=600,
    )
    out = tmp_path / "copy"
    with running_service(database_url) as base_url:
        _submit(base_url, headers, ["0a" * 16, "0b" * 16])
        token_file = tmp_path / "sync.token"
        token_file.write_text(token)
        command = ["sync", "--url", base_url, "--token-file", str(token_file), "--out", str(out)]
        assert cli(command) == 0
        assert "applied 2 changes; holding 2 hashes" in capsys.readouterr().out
        assert cli(command) == 0
        assert "applied 0 changes; holding 2 hashes" in capsys.readouterr().out
