"""Concurrency invariants: two real `hashshare serve` processes on one PostgreSQL database,
and for a bounded time many clients at once submit (some values by several members),
retract, dispute, resolve and match, each against either process.

Every acknowledged answer that states a hash's status is written down with the moments its
request was sent and answered. Afterwards:

- no match answered a hash that an acknowledged retraction (or, for a query without
  `include_disputed`, an acknowledged dispute) had stopped: on the process that acknowledged
  it, for any match sent after the acknowledgement; on the other process, for any match sent
  after the acknowledgement plus the documented freshness window (README, "Freshness across
  replicas"). A request that could make the hash matchable again (a submission of its value,
  a reinstatement) that was still unanswered when the stop was asked for, and sent before the
  match was answered, excuses the hit;
- no query without `include_disputed` was answered a disputed hash;
- every request was answered with a documented status (no 5xx, no transport error);
- each hash's contributor count equals its active contribution rows, and its status agrees;
- both processes' indexes hold exactly the database's matchable set, and match exactly it;
- the audit chain verifies.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from hashshare.auth.scopes import ALL_SCOPES
from hashshare.auth.tokens import issue_token
from hashshare.cli import main as cli
from hashshare.config import Settings
from tests.serving import database_rows, running_service, seconds_until
from tests.values import pdq_value

pytestmark = pytest.mark.processes

RUN_SECONDS = 25.0
FRESHNESS_SECONDS = 1.0  # README, "Freshness across replicas": "within a second"
LABELS = ["attacker-manifesto"]
CONTRIBUTORS = ("alpha", "beta")
DISPUTERS = ("gamma", "delta")  # never contribute, so their verdicts always count
BATCH = 5
REASON = "not-terrorist-content"


@dataclass(frozen=True)
class Observed:
    """An acknowledged answer stating a hash's status."""

    process: int
    sent: float
    answered: float
    status: str


@dataclass(frozen=True)
class Answered:
    """A match: which process, when, and what it answered."""

    process: int
    sent: float
    answered: float
    include_disputed: bool
    hits: tuple[tuple[int, str], ...]  # (hash id, status)


@dataclass
class Ledger:
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_value: int = 1
    values: dict[int, str] = field(default_factory=dict)  # hash id → value
    contributed: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    observed: dict[int, list[Observed]] = field(default_factory=lambda: defaultdict(list))
    # Requests that could make a hash matchable again: (sent, answered).
    revivals: dict[int, list[tuple[float, float]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    matches: list[Answered] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def hash_ids(self) -> list[int]:
        with self.lock:
            return list(self.values)


def _headers(settings: Settings, member: str) -> dict[str, str]:
    token = issue_token(
        settings, member=member, scopes=sorted(ALL_SCOPES), sub=f"{member}-load", ttl_seconds=600
    )
    return {"Authorization": f"Bearer {token}"}


def _send(
    ledger: Ledger, client: httpx.Client, method: str, url: str, **kwargs: Any
) -> tuple[float, float, httpx.Response | None]:
    sent = time.monotonic()
    try:
        response = client.request(method, url, timeout=30, **kwargs)
    except httpx.TransportError as exc:
        with ledger.lock:
            ledger.failures.append(f"{method} {url}: {exc!r}")
        return sent, time.monotonic(), None
    answered = time.monotonic()
    if response.status_code >= 500:
        with ledger.lock:
            ledger.failures.append(f"{method} {url}: {response.status_code} {response.text[:200]}")
    return sent, answered, response


def _submitter(
    ledger: Ledger, urls: list[str], headers: dict[str, str], member: str, stop: threading.Event
) -> None:
    rng = random.Random(member)
    with httpx.Client(headers=headers) as client:
        while not stop.is_set():
            process = rng.randrange(2)
            with ledger.lock:
                fresh = list(range(ledger.next_value, ledger.next_value + BATCH))
                ledger.next_value += BATCH
                # Some values another member submitted: several contributors, raced.
                others = [
                    int(value[:32], 16)
                    for hash_id, value in ledger.values.items()
                    if member not in ledger.contributed[hash_id]
                ]
            numbers = fresh + rng.sample(others, min(2, len(others)))
            values = [pdq_value(n) for n in numbers]
            body = {
                "hashes": [{"signal_type": "pdq", "value": v, "labels": LABELS} for v in values]
            }
            sent, answered, response = _send(
                ledger, client, "POST", f"{urls[process]}/v1/hashes", json=body
            )
            if response is not None and response.status_code == 200:
                with ledger.lock:
                    ledger.counts["submissions"] += 1
                    for item in response.json()["results"]:
                        ledger.values[item["hash_id"]] = item["value"]
                        ledger.contributed[item["hash_id"]].add(member)
                        # A new contribution may lift a dispute, or revive a retracted hash.
                        ledger.revivals[item["hash_id"]].append((sent, answered))


def _retractor(
    ledger: Ledger, urls: list[str], headers: dict[str, str], member: str, stop: threading.Event
) -> None:
    rng = random.Random(f"retract-{member}")
    with httpx.Client(headers=headers) as client:
        while not stop.is_set():
            with ledger.lock:
                mine = [h for h, members in ledger.contributed.items() if member in members]
            if not mine:
                time.sleep(0.01)
                continue
            hash_id = rng.choice(mine)
            process = rng.randrange(2)
            sent, answered, response = _send(
                ledger, client, "DELETE", f"{urls[process]}/v1/hashes/{hash_id}"
            )
            if response is not None and response.status_code == 200:
                with ledger.lock:
                    ledger.counts["retractions"] += 1
                    ledger.contributed[hash_id].discard(member)
                    ledger.observed[hash_id].append(
                        Observed(process, sent, answered, response.json()["status"])
                    )
            time.sleep(0.05)


def _disputer(
    ledger: Ledger, urls: list[str], headers: dict[str, str], member: str, stop: threading.Event
) -> None:
    rng = random.Random(f"dispute-{member}")
    with httpx.Client(headers=headers) as client:
        while not stop.is_set():
            ids = ledger.hash_ids()
            if not ids:
                time.sleep(0.01)
                continue
            hash_id = rng.choice(ids)
            process = rng.randrange(2)
            body = {"verdict": "disagree", "reason": REASON}
            sent, answered, response = _send(
                ledger, client, "POST", f"{urls[process]}/v1/hashes/{hash_id}/feedback", json=body
            )
            if response is not None and response.status_code == 200:
                with ledger.lock:
                    ledger.counts["verdicts"] += 1
                    ledger.observed[hash_id].append(
                        Observed(process, sent, answered, response.json()["status"])
                    )
            elif response is not None and response.status_code != 409:  # hash_retracted
                with ledger.lock:
                    ledger.failures.append(f"feedback: {response.status_code} {response.text}")
            time.sleep(0.05)


def _resolver(
    ledger: Ledger, urls: list[str], headers: dict[str, str], stop: threading.Event
) -> None:
    rng = random.Random("resolve")
    with httpx.Client(headers=headers) as client:
        while not stop.is_set():
            process = rng.randrange(2)
            _, _, page = _send(ledger, client, "GET", f"{urls[process]}/v1/disputes")
            disputes = [] if page is None else page.json().get("disputes", [])
            if not disputes:
                time.sleep(0.1)
                continue
            hash_id = rng.choice(disputes)["hash_id"]
            decision = rng.choice(["reinstate", "retract"])
            body = {"decision": decision, "reason": "reviewed"}
            sent, answered, response = _send(
                ledger,
                client,
                "POST",
                f"{urls[process]}/v1/hashes/{hash_id}/resolution",
                json=body,
            )
            if response is not None and response.status_code == 200:
                with ledger.lock:
                    ledger.counts[f"resolutions ({decision})"] += 1
                    ledger.observed[hash_id].append(
                        Observed(process, sent, answered, response.json()["status"])
                    )
                    if decision == "reinstate":
                        ledger.revivals[hash_id].append((sent, answered))
            elif response is not None and response.status_code != 409:  # not_disputed
                with ledger.lock:
                    ledger.failures.append(f"resolution: {response.status_code} {response.text}")
            time.sleep(0.1)


def _matcher(
    ledger: Ledger, urls: list[str], headers: dict[str, str], seed: int, stop: threading.Event
) -> None:
    rng = random.Random(seed)
    with httpx.Client(headers=headers) as client:
        while not stop.is_set():
            with ledger.lock:
                values = list(ledger.values.values())
            if not values:
                time.sleep(0.01)
                continue
            process = rng.randrange(2)
            include_disputed = rng.random() < 0.5
            queries = [
                {"signal_type": "pdq", "value": value, "max_distance": 0}
                for value in rng.sample(values, min(20, len(values)))
            ]
            body = {"queries": queries, "include_disputed": include_disputed}
            sent, answered, response = _send(
                ledger, client, "POST", f"{urls[process]}/v1/match", json=body
            )
            if response is None or response.status_code != 200:
                continue
            hits = tuple(
                (hit["hash_id"], hit["status"])
                for result in response.json()["results"]
                for hit in result["matches"]
            )
            with ledger.lock:
                ledger.matches.append(Answered(process, sent, answered, include_disputed, hits))


def _stale_hits(ledger: Ledger) -> list[str]:
    """Hits that an acknowledged retraction or dispute should have stopped."""
    found = []
    for match in ledger.matches:
        for hash_id, status in match.hits:
            if status == "disputed" and not match.include_disputed:
                found.append(f"hash {hash_id} answered as disputed without include_disputed")
            stops = {"retracted"} | ({"disputed"} if not match.include_disputed else set())
            for seen in ledger.observed.get(hash_id, []):
                if seen.status not in stops:
                    continue
                window = 0.0 if seen.process == match.process else FRESHNESS_SECONDS
                if seen.answered + window > match.sent:
                    continue
                # A revival still in flight after the stop was asked for, and sent before the
                # match was answered, may have committed after the stop.
                revived = any(
                    answered > seen.sent and sent < match.answered
                    for sent, answered in ledger.revivals.get(hash_id, [])
                )
                if not revived:
                    lag = match.sent - seen.answered
                    found.append(
                        f"hash {hash_id} ({status}) answered by process {match.process} to a "
                        f"match sent {lag:.3f} s after process {seen.process} acknowledged it "
                        f"{seen.status}"
                    )
    return found


CONTRIBUTION_COUNTS = """
    SELECT h.id, h.status, h.contributors,
           (SELECT count(*) FROM contributions c
             WHERE c.hash_id = h.id AND c.retracted_at IS NULL)
      FROM hashes h
"""


@pytest.mark.postgres
@pytest.mark.parametrize("_migrated_url", ["postgres"], indirect=True)
def test_concurrent_writes_and_matches_on_two_processes_keep_the_invariants(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HASHSHARE_DEV_MODE", "1")
    monkeypatch.setenv("HASHSHARE_DATABASE_URL", database_url)
    for member in (*CONTRIBUTORS, *DISPUTERS):
        assert cli(["member", "add", member, "--name", member.title()]) == 0
    settings = Settings(dev_mode=True, database_url=database_url)
    ledger = Ledger()
    stop = threading.Event()
    with running_service(database_url) as first, running_service(database_url) as second:
        urls = [first, second]
        clients = [
            *(
                threading.Thread(
                    target=_submitter, args=(ledger, urls, _headers(settings, m), m, stop)
                )
                for m in CONTRIBUTORS
            ),
            *(
                threading.Thread(
                    target=_retractor, args=(ledger, urls, _headers(settings, m), m, stop)
                )
                for m in CONTRIBUTORS
            ),
            *(
                threading.Thread(
                    target=_disputer, args=(ledger, urls, _headers(settings, m), m, stop)
                )
                for m in DISPUTERS
            ),
            threading.Thread(
                target=_resolver, args=(ledger, urls, _headers(settings, "alpha"), stop)
            ),
            *(
                threading.Thread(
                    target=_matcher, args=(ledger, urls, _headers(settings, "gamma"), n, stop)
                )
                for n in range(4)
            ),
        ]
        for client in clients:
            client.start()
        time.sleep(RUN_SECONDS)
        stop.set()
        for client in clients:
            client.join(timeout=60)
        assert not any(client.is_alive() for client in clients), "a client hung"

        assert not ledger.failures, "\n".join(ledger.failures[:20])
        stale = _stale_hits(ledger)
        assert not stale, f"{len(stale)} stale hits:\n" + "\n".join(stale[:20])

        rows = database_rows(database_url, CONTRIBUTION_COUNTS)
        wrong = [
            f"hash {hash_id}: contributors {count} but {active} active rows ({status})"
            for hash_id, status, count, active in rows
            if count != active or (status == "retracted") != (active == 0)
        ]
        assert not wrong, "\n".join(wrong[:20])

        matchable = {hash_id for hash_id, status, _, _ in rows if status in ("active", "disputed")}
        auth = _headers(settings, "alpha")
        for url in urls:  # the other process within the freshness window, then exactly
            seconds_until(
                lambda url=url: (
                    httpx.get(f"{url}/readyz", timeout=10).json()["signal_types"]["pdq"]["size"]
                    == len(matchable)
                )
            )
            queries = [
                {"signal_type": "pdq", "value": value, "max_distance": 0}
                for value in ledger.values.values()
            ]
            found: set[int] = set()
            for start in range(0, len(queries), 1000):
                body = {"queries": queries[start : start + 1000], "include_disputed": True}
                answer = httpx.post(f"{url}/v1/match", json=body, headers=auth, timeout=30)
                assert answer.status_code == 200, answer.text
                found |= {
                    hit["hash_id"]
                    for result in answer.json()["results"]
                    for hit in result["matches"]
                }
            assert found == matchable, f"{url} matches other than the database's set"

        verdict = httpx.get(f"{first}/v1/audit/verify", headers=auth, timeout=60).json()
        assert verdict["ok"] is True, verdict

    assert ledger.counts["submissions"] > 0 and ledger.counts["retractions"] > 0
    assert ledger.counts["verdicts"] > 0 and len(ledger.matches) > 0
    disputed = sum(
        1 for seen in ledger.observed.values() for each in seen if each.status == "disputed"
    )
    print(
        f"{dict(ledger.counts)}; {len(ledger.matches)} matches; {disputed} dispute answers; "
        f"{len(ledger.values)} hashes"
    )
