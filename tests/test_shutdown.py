"""Graceful shutdown: SIGTERM during batch submissions and matches. The server stops taking
new connections, finishes the requests in flight, flushes the audit events it batched, and
exits; every acknowledged submission is stored and the audit chain verifies."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from hashshare.audit.service import verify_log
from hashshare.auth.tokens import issue_token
from hashshare.cli import main as cli
from hashshare.config import Settings
from hashshare.db import create_engine, create_session_factory
from tests.values import pdq_value

BATCH = 10_000  # the largest batch accepted: about a second of work
LABELS = ["attacker-manifesto"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _stored(url: str, acknowledged: list[str]) -> tuple[int, int, Any]:
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as session:
            stored = {
                row[0].hex() for row in await session.execute(text("SELECT value FROM hashes"))
            }
            submits = (
                await session.execute(
                    text("SELECT count(*) FROM audit_events WHERE action = 'hashes.submit'")
                )
            ).scalar_one()
            verdict = await verify_log(session)
    finally:
        await engine.dispose()
    return sum(value in stored for value in acknowledged), submits, verdict


def _signal_when_sent(sent: threading.Event) -> Any:
    """An httpcore trace callback: set `sent` once the request body has been written."""

    def trace(event: str, _info: dict[str, Any]) -> None:
        if event == "http11.send_request_body.complete":
            sent.set()

    return trace


@pytest.mark.processes
@pytest.mark.timeout(240)
def test_sigterm_during_batch_submission_keeps_what_was_acknowledged(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith(("HASHSHARE_", "PROMETHEUS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HASHSHARE_DEV_MODE", "1")
    monkeypatch.setenv("HASHSHARE_DATABASE_URL", database_url)
    assert cli(["member", "add", "alpha", "--name", "Alpha"]) == 0
    token = issue_token(
        Settings(dev_mode=True, database_url=database_url),
        member="alpha",
        scopes=["hashes:submit", "hashes:match"],
        sub="shutdown-test",
        ttl_seconds=600,
    )
    headers = {"Authorization": f"Bearer {token}"}
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "hashshare", "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    acknowledged: list[str] = []
    acknowledged_batches = 0
    matches_ok = 0
    refused = 0
    in_flight_at_sigterm = threading.Event()
    answered_at: list[float] = []  # when the batch in flight at SIGTERM was answered
    lock = threading.Lock()
    stop = threading.Event()

    def submitter(worker: int) -> None:
        nonlocal acknowledged_batches, refused
        batch_number = 0
        while not stop.is_set():
            first = (worker * 1000 + batch_number) * BATCH + 1
            values = [pdq_value(n) for n in range(first, first + BATCH)]
            body = {
                "hashes": [{"signal_type": "pdq", "value": v, "labels": LABELS} for v in values]
            }
            batch_number += 1
            try:
                with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
                    extensions = {}
                    if worker == 0 and batch_number == 3:
                        # Once this batch is on the wire, the main thread sends SIGTERM.
                        extensions["trace"] = _signal_when_sent(in_flight_at_sigterm)
                    response = client.post("/v1/hashes", json=body, extensions=extensions)
            except httpx.TransportError:
                with lock:
                    refused += 1
                return
            assert response.status_code == 200, response.text
            if worker == 0 and batch_number == 3:
                answered_at.append(time.monotonic())
            with lock:
                acknowledged.extend(values)
                acknowledged_batches += 1

    def matcher() -> None:
        nonlocal matches_ok
        query = {"queries": [{"signal_type": "pdq", "value": pdq_value(1)}]}
        while not stop.is_set():
            try:
                with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
                    response = client.post("/v1/match", json=query)
            except httpx.TransportError:
                return
            assert response.status_code == 200, response.text
            with lock:
                matches_ok += 1

    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "the service exited during start-up"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "not ready in 60 s"
            time.sleep(0.2)
        threads = [threading.Thread(target=submitter, args=(0,)), threading.Thread(target=matcher)]
        for thread in threads:
            thread.start()
        assert in_flight_at_sigterm.wait(timeout=120)
        # The server reads the request as soon as its loop is free; a request it has not
        # begun when the signal comes is not acknowledged (its connection is closed instead).
        time.sleep(0.3)
        sigterm_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down cleanly, then re-raises the signal: killed by SIGTERM, as expected.
        assert process.wait(timeout=120) in (0, -signal.SIGTERM)
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        stop.set()
        if process.poll() is None:
            process.kill()
            process.wait()
    log = process.stderr.read().decode() if process.stderr else ""
    assert "Traceback" not in log, log[-3000:]
    assert "Application shutdown complete" in log, log[-3000:]

    stored, submit_events, verdict = asyncio.run(_stored(database_url, acknowledged))
    # The batch in flight when SIGTERM came was finished and acknowledged; the connections
    # tried after it were refused.
    assert answered_at and answered_at[0] > sigterm_at
    assert refused >= 1
    assert stored == len(acknowledged) == acknowledged_batches * BATCH
    # Each acknowledged batch has its audit event, and so does each match (flushed by the
    # writer before exit); the chain verifies to its end.
    assert submit_events == acknowledged_batches
    assert matches_ok > 0
    assert verdict.ok, verdict
    assert verdict.events >= acknowledged_batches + matches_ok + 1  # + member.add
