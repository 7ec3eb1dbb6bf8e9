"""Freshness across replicas: real `hashshare serve` processes sharing one database.

A write through one process reaches the match index of the other through the change feed
within a second (LISTEN/NOTIFY on PostgreSQL, polling on SQLite), and a restarted process
loads the complete matchable set.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from hashshare.auth.tokens import issue_token
from hashshare.cli import main as cli
from hashshare.config import Settings
from tests.serving import running_service
from tests.values import pdq_value

# Runs service processes (deselect with -m "not processes" for a quick run).
pytestmark = pytest.mark.processes

FRESHNESS_SECONDS = 1.0
LABELS = ["attacker-manifesto"]


@pytest.fixture
def headers(database_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("HASHSHARE_DEV_MODE", "1")
    monkeypatch.setenv("HASHSHARE_DATABASE_URL", database_url)
    assert cli(["member", "add", "alpha", "--name", "Alpha"]) == 0
    token = issue_token(
        Settings(dev_mode=True, database_url=database_url),
        member="alpha",
        scopes=["hashes:submit", "hashes:match"],
        sub="replica-test",
        ttl_seconds=600,
    )
    return {"Authorization": f"Bearer {token}"}


def _submit(base_url: str, headers: dict[str, str], values: list[str]) -> list[int]:
    body = {"hashes": [{"signal_type": "pdq", "value": v, "labels": LABELS} for v in values]}
    response = httpx.post(f"{base_url}/v1/hashes", json=body, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return [item["hash_id"] for item in response.json()["results"]]


def _matched_ids(base_url: str, headers: dict[str, str], value: str) -> list[int]:
    body = {"queries": [{"signal_type": "pdq", "value": value, "max_distance": 0}]}
    response = httpx.post(f"{base_url}/v1/match", json=body, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return [hit["hash_id"] for hit in response.json()["results"][0]["matches"]]


def _seconds_until(condition: Callable[[], bool], limit: float = 10.0) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < limit, f"condition not met within {limit} s"
        time.sleep(0.02)
    return time.monotonic() - started


def test_submission_and_retraction_reach_the_other_replica_within_a_second(
    database_url: str, headers: dict[str, str]
) -> None:
    value = "a5" * 32
    with running_service(database_url) as writer, running_service(database_url) as reader:
        assert _matched_ids(reader, headers, value) == []
        (hash_id,) = _submit(writer, headers, [value])

        seen_after = _seconds_until(lambda: _matched_ids(reader, headers, value) == [hash_id])
        assert seen_after < FRESHNESS_SECONDS

        response = httpx.delete(f"{writer}/v1/hashes/{hash_id}", headers=headers, timeout=10)
        assert response.status_code == 200
        assert response.json()["status"] == "retracted"
        assert _matched_ids(writer, headers, value) == []
        gone_after = _seconds_until(lambda: _matched_ids(reader, headers, value) == [])
        assert gone_after < FRESHNESS_SECONDS


def test_readiness_reports_index_sizes_and_feed_position(
    database_url: str, headers: dict[str, str]
) -> None:
    with running_service(database_url) as writer, running_service(database_url) as reader:
        _submit(writer, headers, [pdq_value(i) for i in range(1, 6)])

        def caught_up() -> bool:
            ready = httpx.get(f"{reader}/readyz", timeout=5).json()
            return bool(ready["signal_types"]["pdq"]["size"] == 5 and ready["feed"]["behind"] == 0)

        _seconds_until(caught_up)
        ready = httpx.get(f"{reader}/readyz", timeout=5).json()
        assert ready["feed"]["applied_seq"] == ready["feed"]["head_seq"] >= 5
        assert ready["signal_types"]["md5"]["size"] == 0


def test_restarted_replica_loads_the_complete_matchable_set(
    database_url: str, headers: dict[str, str]
) -> None:
    values = [pdq_value(i) for i in range(1, 51)]
    with running_service(database_url) as writer:
        ids = _submit(writer, headers, values)
        retracted = ids[:10]
        for hash_id in retracted:
            response = httpx.delete(f"{writer}/v1/hashes/{hash_id}", headers=headers, timeout=10)
            assert response.status_code == 200
        with running_service(database_url) as restarted:
            ready = httpx.get(f"{restarted}/readyz", timeout=5).json()
            assert ready["signal_types"]["pdq"]["size"] == 40
            assert ready["feed"]["behind"] == 0
            for value, hash_id in zip(values, ids, strict=True):
                expected = [] if hash_id in retracted else [hash_id]
                assert _matched_ids(restarted, headers, value) == expected
