"""Crash safety: the service, a real process, is killed with SIGKILL at random moments while
several clients submit, retract and give feedback and others upload JPEGs to be hashed and
matched (keeping its hashing worker processes busy); after every restart nothing it
acknowledged is lost and nothing is half-stored, and no process of the killed service (a
hashing worker, multiprocessing's resource tracker) is left running.

Checked after each restart: every acknowledged batch is fully stored and every batch is
stored whole or not at all; every acknowledged retraction holds; the audit chain verifies and
holds an event for every acknowledged action (found by the request id the client sent); the
loaded index holds exactly the database's matchable hashes; replaying the change feed from
its start gives exactly the database's matchable set, in strictly increasing order.

And a hashing worker killed while uploads are in flight costs no upload: each in flight is
hashed again in a process of its own, later uploads get a new pool, and none is answered
5xx or left hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from hashshare.auth.scopes import ALL_SCOPES
from hashshare.auth.tokens import issue_token
from hashshare.config import Settings
from hashshare.migrations import upgrade
from tests.conftest import _pg_admin
from tests.hashing.pictures import encode, scene
from tests.serving import add_members, database_rows, free_port
from tests.values import pdq_value

pytestmark = pytest.mark.processes

BATCH = 10
LABELS = ["attacker-manifesto"]
ROUNDS = {"postgres": 20, "sqlite": 10}
# A 12-megapixel photo: tens of milliseconds of a worker's time even decoded at reduced size.
PHOTO = encode(scene(4000, 3000, seed=14), "JPEG", quality=90)
IMAGE_PATHS = ("/v1/hash", "/v1/match/image")
EXIT_LIMIT_SECONDS = 10.0  # for the processes of a killed service to be gone


def _start(database_url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "HASHSHARE_DEV_MODE": "1",
        "HASHSHARE_DATABASE_URL": database_url,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "hashshare", "serve", "--port", str(port), "--log-level", "error"],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, "the service exited during start-up"
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                return process, base_url
        assert time.monotonic() < deadline, "the service did not become ready in 60 s"
        time.sleep(0.05)


@dataclass
class Ledger:
    """What the service acknowledged, and what it was asked (request ids)."""

    acknowledged_batches: list[int] = field(default_factory=list)
    asked_batches: list[int] = field(default_factory=list)
    hash_ids: list[int] = field(default_factory=list)  # of acknowledged batches
    retracted: list[int] = field(default_factory=list)  # acknowledged retractions
    acknowledged_requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_batch: int = 1
    images_hashed: int = 0
    failures: list[str] = field(default_factory=list)  # image uploads answered other than 200


def _token(settings: Settings, member: str) -> str:
    bearer = issue_token(
        settings, member=member, scopes=sorted(ALL_SCOPES), sub=f"{member}-crash", ttl_seconds=3600
    )
    return f"Bearer {bearer}"


def _client(
    kind: str, base_url: str, settings: Settings, ledger: Ledger, stop: threading.Event
) -> None:
    member = "beta" if kind == "feedback" else "alpha"
    headers = {"Authorization": _token(settings, member)}
    rng = random.Random()
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        while not stop.is_set():
            request_id = uuid.uuid4().hex
            try:
                if kind == "image":
                    response = client.post(
                        rng.choice(IMAGE_PATHS),
                        files={"image": ("photo.jpg", PHOTO, "image/jpeg")},
                        headers={"X-Request-ID": request_id},
                    )
                    with ledger.lock:
                        if response.status_code == 200:
                            ledger.images_hashed += 1
                        else:
                            ledger.failures.append(f"{response.status_code} {response.text}")
                    continue
                if kind == "submit":
                    with ledger.lock:
                        start = ledger.next_batch
                        ledger.next_batch += BATCH
                        ledger.asked_batches.append(start)
                    body = {
                        "hashes": [
                            {"signal_type": "pdq", "value": pdq_value(n), "labels": LABELS}
                            for n in range(start, start + BATCH)
                        ]
                    }
                    response = client.post(
                        "/v1/hashes", json=body, headers={"X-Request-ID": request_id}
                    )
                    if response.status_code == 200:
                        ids = [item["hash_id"] for item in response.json()["results"]]
                        with ledger.lock:
                            ledger.acknowledged_batches.append(start)
                            ledger.hash_ids.extend(ids)
                            ledger.acknowledged_requests.append(request_id)
                    continue
                with ledger.lock:
                    candidates = [i for i in ledger.hash_ids if i not in ledger.retracted]
                if not candidates:
                    time.sleep(0.01)
                    continue
                target = rng.choice(candidates)
                if kind == "retract":
                    response = client.delete(
                        f"/v1/hashes/{target}", headers={"X-Request-ID": request_id}
                    )
                    if response.status_code == 200:
                        with ledger.lock:
                            ledger.retracted.append(target)
                            ledger.acknowledged_requests.append(request_id)
                    time.sleep(0.02)
                else:
                    response = client.post(
                        f"/v1/hashes/{target}/feedback",
                        json={"verdict": "agree"},
                        headers={"X-Request-ID": request_id},
                    )
                    if response.status_code == 200:
                        with ledger.lock:
                            ledger.acknowledged_requests.append(request_id)
                    time.sleep(0.02)
            except httpx.TransportError:
                time.sleep(0.01)  # killed mid-request: outcome unknown, not acknowledged


def _children() -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
                found.setdefault(parent, []).append(int(entry))
    return found


def _descendants(root: int) -> set[int]:
    """Every process below `root` now."""
    children, found, todo = _children(), set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _command(pid: int) -> str:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as cmdline:
        return cmdline.read().replace(b"\0", b" ").decode(errors="replace")
    return ""


def _alive(pid: int) -> bool:
    """Running (a zombie has exited: it only waits for its new parent to reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _kill_and_check_nothing_survives(process: subprocess.Popen[bytes]) -> list[str]:
    """SIGKILL the service; every process it had started must exit on its own. Returns the
    command lines of those it had."""
    below = {pid: _command(pid) for pid in _descendants(process.pid)}
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + EXIT_LIMIT_SECONDS
    while survivors := [pid for pid in below if _alive(pid)]:
        assert time.monotonic() < deadline, "outlived the killed service: " + "; ".join(
            f"{pid} {below[pid][:120]}" for pid in survivors
        )
        time.sleep(0.05)
    return list(below.values())


def _upload_photo(base_url: str, headers: dict[str, str], path: str) -> httpx.Response:
    return httpx.post(
        f"{base_url}{path}",
        files={"image": ("photo.jpg", PHOTO, "image/jpeg")},
        headers=headers,
        timeout=60,
    )


def _warm_up(base_url: str, headers: dict[str, str]) -> None:
    """Two uploads at once, so that both hashing workers are started (the pool starts its
    processes as uploads need them) before the clients begin."""
    with ThreadPoolExecutor(2) as uploads:
        answers = list(
            uploads.map(lambda path: _upload_photo(base_url, headers, path), IMAGE_PATHS)
        )
    assert [answer.status_code for answer in answers] == [200, 200]


def _check(base_url: str, database_url: str, settings: Settings, ledger: Ledger) -> None:
    auth = {"Authorization": _token(settings, "alpha")}
    stored = {
        bytes(value).hex(): status
        for value, status in database_rows(database_url, "SELECT value, status FROM hashes")
    }
    for start in ledger.acknowledged_batches:
        for n in range(start, start + BATCH):
            assert pdq_value(n) in stored, f"acknowledged batch {start} lost {n}"
    for start in ledger.asked_batches:
        present = [pdq_value(n) in stored for n in range(start, start + BATCH)]
        assert all(present) or not any(present), f"batch {start} half stored"

    retracted = {
        hash_id
        for (hash_id,) in database_rows(
            database_url,
            "SELECT hash_id FROM contributions WHERE member_id = 'alpha' "
            "AND retracted_at IS NOT NULL",
        )
    }
    assert set(ledger.retracted) <= retracted, "an acknowledged retraction was lost"

    verdict = httpx.get(f"{base_url}/v1/audit/verify", headers=auth, timeout=30).json()
    assert verdict["ok"] is True, verdict
    logged = {
        request_id
        for (request_id,) in database_rows(
            database_url, "SELECT DISTINCT request_id FROM audit_events"
        )
    }
    missing = set(ledger.acknowledged_requests) - logged
    assert not missing, f"{len(missing)} acknowledged actions without an audit event"

    matchable = {
        hash_id
        for (hash_id,) in database_rows(
            database_url, "SELECT id FROM hashes WHERE status IN ('active', 'disputed')"
        )
    }
    ready = httpx.get(f"{base_url}/readyz", timeout=10).json()
    assert ready["signal_types"]["pdq"]["size"] == len(matchable), "index differs from database"

    replayed: dict[int, str] = {}
    after, last_seq = 0, 0
    while True:
        page = httpx.get(
            f"{base_url}/v1/changes", params={"after": after, "limit": 1000}, headers=auth
        ).json()
        for change in page["changes"]:
            assert change["seq"] > last_seq
            last_seq = change["seq"]
            replayed[change["hash_id"]] = change["kind"]
        after = int(page["next_cursor"])
        if not page["has_more"]:
            break
    from_feed = {hash_id for hash_id, kind in replayed.items() if kind == "upsert"}
    assert from_feed == matchable, "replaying the change feed does not give the database's set"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def crash_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
        upgrade(url)
        asyncio.run(add_members(url, "crash", "alpha", "beta"))
        yield "sqlite", url
        return
    base: str = request.getfixturevalue("postgres_url")
    name = f"{make_url(base).database}c{uuid.uuid4().hex[:6]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        asyncio.run(add_members(url, "crash", "alpha", "beta"))
        yield "postgres", url
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_sigkill_at_random_moments_loses_nothing_acknowledged(
    crash_database: tuple[str, str],
) -> None:
    backend, url = crash_database
    settings = Settings(dev_mode=True, database_url=url)
    ledger = Ledger()
    rng = random.Random(14)
    killed_workers = 0
    headers = {"Authorization": _token(settings, "alpha")}
    process, base_url = _start(url)
    try:
        for _ in range(ROUNDS[backend]):
            _warm_up(base_url, headers)
            stop = threading.Event()
            clients = [
                threading.Thread(target=_client, args=(kind, base_url, settings, ledger, stop))
                for kind in ("submit", "submit", "submit", "retract", "feedback", "image")
            ]
            for client in clients:
                client.start()
            time.sleep(rng.uniform(0.5, 1.5))
            below = _kill_and_check_nothing_survives(process)
            workers = [c for c in below if "spawn_main" in c and "resource_tracker" not in c]
            assert workers, f"no hashing worker was running when the service was killed: {below}"
            killed_workers += len(workers)
            stop.set()
            for client in clients:
                client.join(timeout=30)
            process, base_url = _start(url)
            _check(base_url, url, settings, ledger)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not ledger.failures, ledger.failures[:5]
    assert len(ledger.acknowledged_batches) >= ROUNDS[backend], "too little was acknowledged"
    print(
        f"{backend}: {ROUNDS[backend]} kills; acknowledged {len(ledger.acknowledged_batches)} "
        f"of {len(ledger.asked_batches)} batches, {len(ledger.retracted)} retractions, "
        f"{len(ledger.acknowledged_requests)} actions in all; {ledger.images_hashed} images "
        f"hashed during the rounds; {killed_workers} hashing workers running at the kills, "
        "none survived"
    )


def _workers(server: int) -> list[int]:
    """The server's hashing workers (not multiprocessing's resource tracker)."""
    return sorted(
        pid
        for pid in _descendants(server)
        if "spawn_main" in _command(pid) and "resource_tracker" not in _command(pid)
    )


def test_a_killed_hashing_worker_costs_no_upload_and_is_replaced(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'workers.db'}"
    upgrade(url)
    asyncio.run(add_members(url, "crash", "alpha", "beta"))
    settings = Settings(dev_mode=True, database_url=url)
    headers = {"Authorization": _token(settings, "alpha")}
    process, base_url = _start(url)
    answers: list[int | str] = []
    lock = threading.Lock()

    def upload(path: str) -> None:
        try:
            response = _upload_photo(base_url, headers, path)  # a hang ends in a timeout
            answer: int | str = response.status_code
            if response.status_code != 200:
                answer = f"{response.status_code} {response.text[:200]}"
        except httpx.TransportError as exc:
            answer = repr(exc)
        with lock:
            answers.append(answer)

    def in_flight(n: int) -> list[threading.Thread]:
        threads = [threading.Thread(target=upload, args=(IMAGE_PATHS[i % 2],)) for i in range(n)]
        for thread in threads:
            thread.start()
        return threads

    try:
        for thread in in_flight(2):  # the pool starts with the first upload
            thread.join()
        for _ in range(3):
            before = _workers(process.pid)
            assert before, "no hashing worker is running"
            busy = in_flight(8)
            time.sleep(0.3)
            os.kill(before[0], signal.SIGKILL)
            for thread in busy:
                thread.join(timeout=120)
            assert not any(thread.is_alive() for thread in busy), "an upload hangs"
            for thread in in_flight(2):
                thread.join()
            after = _workers(process.pid)
            assert before[0] not in after and after, f"workers {before} -> {after}"
        assert answers == [200] * len(answers), [a for a in answers if a != 200]
        assert len(answers) == 2 + 3 * 10
    finally:
        _kill_and_check_nothing_survives(process)
