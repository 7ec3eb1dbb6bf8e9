"""GET /metrics: Prometheus' format, for the admin scope; the figures move with the traffic,
and with several worker processes they are the sum over all of them."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hashshare.cli import main as cli
from hashshare.migrations import upgrade
from tests.conftest import Api

PDQ = "f0" * 32
MATCH = ("POST", "/v1/match", "200")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def requests_of(
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float], key: tuple[str, str, str]
) -> float:
    method, route, status = key
    labels = (("method", method), ("route", route), ("status", status))
    return found.get(("hashshare_http_requests_total", labels), 0.0)


async def _scrape(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await api.client.get("/metrics", headers=api.auth("alpha", "admin"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


async def test_metrics_need_the_admin_scope(api: Api) -> None:
    assert (await api.client.get("/metrics")).status_code == 401
    refused = await api.client.get("/metrics", headers=api.auth("alpha", "hashes:match"))
    assert refused.status_code == 403


async def test_figures_move_with_the_traffic(api: Api) -> None:
    before = await _scrape(api)
    submitted = await api.client.post(
        "/v1/hashes",
        json={"hashes": [{"signal_type": "pdq", "value": PDQ, "labels": ["attacker-manifesto"]}]},
        headers=api.auth("alpha", "hashes:submit"),
    )
    assert submitted.status_code in (200, 201), submitted.text
    for _ in range(3):
        matched = await api.client.post(
            "/v1/match",
            json={"queries": [{"signal_type": "pdq", "value": PDQ}]},
            headers=api.auth("beta", "hashes:match"),
        )
        assert matched.status_code == 200
    after = await _scrape(api)
    assert requests_of(after, MATCH) - requests_of(before, MATCH) == 3
    latency = (
        "hashshare_http_request_duration_seconds_count",
        (("method", "POST"), ("route", "/v1/match")),
    )
    assert after[latency] - before.get(latency, 0.0) == 3
    assert after[("hashshare_index_hashes", (("signal_type", "pdq"),))] == 1
    assert (
        after[("hashshare_audit_chain_head_seq", ())]
        > before[("hashshare_audit_chain_head_seq", ())]
    )
    assert after[("hashshare_feed_behind_changes", ())] == 0
    assert after[("hashshare_index_kernel", (("kernel", "compiled"),))] == 1
    assert 0 <= after[("hashshare_access_list_age_seconds", ())] < 60


Found = dict[tuple[str, tuple[tuple[str, str], ...]], float]
LABELS = ["attacker-manifesto"]


def _moved(before: Found, after: Found, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def _submit(api: Api, values: list[tuple[str, str]], labels: list[str] = LABELS) -> int:
    body = {"hashes": [{"signal_type": t, "value": v, "labels": labels} for t, v in values]}
    response = await api.client.post("/v1/hashes", json=body, headers=api.auth("alpha"))
    return response.status_code


async def test_lookups_submissions_disputes_and_the_audit_writer_are_counted(api: Api) -> None:
    before = await _scrape(api)
    md5 = "ab" * 16
    assert await _submit(api, [("pdq", PDQ), ("md5", md5)]) == 200  # 2 created
    assert await _submit(api, [("pdq", PDQ)]) == 200  # existing
    assert await _submit(api, [("pdq", PDQ)], ["glorification-of-terrorist-acts"]) == 200
    assert await _submit(api, [("pdq", "00" * 32), ("md5", "zz")]) == 422  # 2 rejected
    queries = [
        {"signal_type": "pdq", "value": PDQ},
        {"signal_type": "pdq", "value": "0f" * 32},
        {"signal_type": "md5", "value": md5},
        {"signal_type": "md5", "value": "cd" * 16},
        {"signal_type": "md5", "value": "ef" * 16},
    ]
    matched = await api.client.post(
        "/v1/match", json={"queries": queries}, headers=api.auth("beta", "hashes:match")
    )
    assert matched.json()["matched_queries"] == 2
    hash_id = matched.json()["results"][0]["matches"][0]["hash_id"]
    judged = await api.client.post(
        f"/v1/hashes/{hash_id}/feedback",
        json={"verdict": "disagree", "reason": "not-terrorist-content"},
        headers=api.auth("beta", "hashes:feedback"),
    )
    assert judged.json()["status"] == "disputed"  # one contributor: one disagreement
    resolved = await api.client.post(
        f"/v1/hashes/{hash_id}/resolution",
        json={"decision": "reinstate", "reason": "The listing stands."},
        headers=api.auth("beta", "admin"),
    )
    assert resolved.status_code == 200
    after = await _scrape(api)

    def moved(name: str, **labels: str) -> float:
        return _moved(before, after, name, **labels)

    by_signal_type = {
        (kind, signal_type): moved(f"hashshare_match_{kind}_total", signal_type=signal_type)
        for kind in ("lookups", "hits", "misses")
        for signal_type in ("pdq", "md5")
    }
    assert by_signal_type == {
        ("lookups", "pdq"): 2,
        ("hits", "pdq"): 1,
        ("misses", "pdq"): 1,
        ("lookups", "md5"): 3,
        ("hits", "md5"): 1,
        ("misses", "md5"): 2,
    }
    outcomes = ("created", "existing", "updated", "rejected")
    submissions = [moved("hashshare_submissions_total", outcome=o) for o in outcomes]
    assert submissions == [2, 1, 1, 2]
    assert moved("hashshare_feedback_total", verdict="disagree") == 1
    disputes = [moved("hashshare_disputes_total", outcome=o) for o in ("opened", "reinstated")]
    assert disputes == [1, 1]
    # The match's event and the refused submission's went through the group-committing writer.
    batches = moved("hashshare_audit_batch_events_count")
    assert batches >= 1
    assert moved("hashshare_audit_batch_events_sum") >= batches
    assert moved("hashshare_audit_commit_seconds_count") == batches
    assert moved("hashshare_audit_commit_seconds_sum") > 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.processes
def test_with_two_workers_a_scrape_counts_the_requests_of_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'metrics.db'}"
    upgrade(url)
    for name in list(os.environ):
        if name.startswith(("HASHSHARE_", "PROMETHEUS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HASHSHARE_DEV_MODE", "1")
    monkeypatch.setenv("HASHSHARE_DATABASE_URL", url)
    assert cli(["member", "add", "alpha", "--name", "Alpha"]) == 0
    from hashshare.auth.tokens import issue_token
    from hashshare.config import Settings

    token = issue_token(
        Settings(dev_mode=True, database_url=url),
        member="alpha",
        scopes=["hashes:match", "admin"],
        sub="scraper",
        ttl_seconds=600,
    )
    headers = {"Authorization": f"Bearer {token}"}
    metrics_dir = tmp_path / "metrics"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "hashshare", "serve", "--port", str(port), "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "the service exited during start-up"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "not ready in 60 s"
            time.sleep(0.2)
        body = {"queries": [{"signal_type": "pdq", "value": PDQ}]}
        sent = 30
        for _ in range(sent):
            # A new connection each time, so both workers take some of the requests.
            with httpx.Client(base_url=base, headers=headers) as client:
                assert client.post("/v1/match", json=body).status_code == 200
        # Both workers counted requests (each keeps its own file of values)...
        counters = {path.stem.split("_")[-1] for path in metrics_dir.glob("counter_*.db")}
        assert len(counters) == 2, counters
        # ...and one scrape, answered by either, reports the sum.
        for _ in range(2):
            with httpx.Client(base_url=base, headers=headers) as client:
                assert requests_of(samples(client.get("/metrics").text), MATCH) == sent
    finally:
        process.terminate()
        process.wait(timeout=30)
