"""The central service and an edge as real processes on loopback.

After a random history of submissions, retractions and disputes upstream, the edge answers
as the service does; each kind of change reaches the edge's answers within 2 s; an edge
killed during its sync resumes from its saved cursor; an edge whose upstream stops keeps
serving and reports how stale it is.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from hashshare.auth.tokens import issue_token
from hashshare.cli import main as cli
from hashshare.config import Settings
from tests.serving import anything_answers, running_edge, running_service, seconds_until
from tests.values import pdq_value

# Runs service processes (deselect with -m "not processes" for a quick run).
pytestmark = pytest.mark.processes

FRESHNESS_SECONDS = 2.0
MEMBERS = ("alpha", "beta", "gamma")
LABELS = [
    "attacker-manifesto",
    "glorification-of-terrorist-acts",
    "branded-terrorist-publication",
]


@dataclass
class Upstream:
    database_url: str
    token_file: Path
    headers: dict[str, dict[str, str]]  # by member
    probe: dict[str, str]  # reads the feed's head, as another caller than the edge


@pytest.fixture
def upstream(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Upstream:
    monkeypatch.setenv("HASHSHARE_DEV_MODE", "1")
    monkeypatch.setenv("HASHSHARE_DATABASE_URL", database_url)
    settings = Settings(dev_mode=True, database_url=database_url)
    headers = {}
    for member in MEMBERS:
        assert cli(["member", "add", member, "--name", member.title()]) == 0
        token = issue_token(
            settings,
            member=member,
            scopes=["hashes:submit", "hashes:match", "hashes:feedback"],
            sub=f"{member}-tester",
            ttl_seconds=900,
        )
        headers[member] = {"Authorization": f"Bearer {token}"}
    token_file = tmp_path / "edge-token"
    token_file.write_text(
        issue_token(settings, member="alpha", scopes=["hashes:read"], sub="edge", ttl_seconds=900)
    )
    probe = issue_token(
        settings, member="beta", scopes=["hashes:read"], sub="probe", ttl_seconds=900
    )
    return Upstream(database_url, token_file, headers, {"Authorization": f"Bearer {probe}"})


def _random_value(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def _flip(value: str, bits: int, rng: random.Random) -> str:
    number = int(value, 16)
    for bit in rng.sample(range(256), bits):
        number ^= 1 << bit
    return f"{number:064x}"


def _submit(base: str, headers: dict[str, str], values: list[str], labels: list[str]) -> list[int]:
    body = {"hashes": [{"signal_type": "pdq", "value": v, "labels": labels} for v in values]}
    response = httpx.post(f"{base}/v1/hashes", json=body, headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    return [item["hash_id"] for item in response.json()["results"]]


def _dispute(base: str, headers: dict[str, str], hash_id: int) -> None:
    response = httpx.post(
        f"{base}/v1/hashes/{hash_id}/feedback",
        json={"verdict": "disagree", "reason": "not-terrorist-content"},
        headers=headers,
        timeout=10,
    )
    assert response.status_code in (200, 201), response.text


def _retract(base: str, headers: dict[str, str], hash_id: int) -> None:
    response = httpx.delete(f"{base}/v1/hashes/{hash_id}", headers=headers, timeout=10)
    assert response.status_code == 200, response.text


def _random_history(base: str, upstream: Upstream, rng: random.Random, steps: int) -> list[str]:
    """Submissions (shared values too), retractions and disputes; returns every value used."""
    values: list[str] = []
    contributors: dict[int, set[str]] = {}
    for _ in range(steps):
        member = rng.choice(MEMBERS)
        action = rng.random()
        live = sorted(hash_id for hash_id, members in contributors.items() if members)
        if action < 0.6 or not live:
            fresh = [_random_value(rng) for _ in range(rng.randint(1, 8))]
            shared = rng.sample(values, min(len(values), rng.randint(0, 2)))
            labels = [LABELS[0], *rng.sample(LABELS[1:], rng.randint(0, 1))]
            ids = _submit(base, upstream.headers[member], fresh + shared, labels)
            values += fresh
            for hash_id in ids:
                contributors.setdefault(hash_id, set()).add(member)
        elif action < 0.8:
            hash_id = rng.choice(live)
            owner = rng.choice(sorted(contributors[hash_id]))
            _retract(base, upstream.headers[owner], hash_id)
            contributors[hash_id].discard(owner)
        else:
            hash_id = rng.choice(live)
            others = [m for m in MEMBERS if m not in contributors[hash_id]]
            if others:
                _dispute(base, upstream.headers[rng.choice(others)], hash_id)
    return values


def _match(base: str, values: list[str], include_disputed: bool, headers: dict[str, str]) -> Any:
    body = {
        "queries": [{"signal_type": "pdq", "value": v, "max_distance": 31} for v in values],
        "include_disputed": include_disputed,
    }
    response = httpx.post(f"{base}/v1/match", json=body, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _ready(base: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{base}/readyz", timeout=5).json()
    return answer


def _head(base: str, probe: dict[str, str]) -> int:
    """The head of the service's feed, as the database has it."""
    response = httpx.get(f"{base}/v1/changes", params={"limit": 1}, headers=probe, timeout=10)
    assert response.status_code == 200, response.text
    return int(response.json()["head_seq"])


def _applied(edge: str) -> int:
    return int(_ready(edge)["feed"]["applied_seq"])


def test_edge_answers_as_the_service_does_after_a_random_history(
    upstream: Upstream, tmp_path: Path
) -> None:
    rng = random.Random(12)
    headers = upstream.headers["beta"]
    with running_service(upstream.database_url) as central:
        values = _random_history(central, upstream, rng, 60)
        with running_edge(central, upstream.token_file, tmp_path / "edge", "--wait", "1") as edge:
            values += _random_history(central, upstream, rng, 40)
            seconds_until(lambda: _applied(edge.base_url) >= _head(central, upstream.probe), 10)
            planted = [_flip(v, rng.randint(0, 12), rng) for v in rng.sample(values, 150)]
            queries = planted + [_random_value(rng) for _ in range(150)]
            matched = 0
            for include_disputed in (False, True):
                for start in range(0, len(queries), 100):
                    chunk = queries[start : start + 100]
                    expected = _match(central, chunk, include_disputed, headers)
                    assert _match(edge.base_url, chunk, include_disputed, {}) == expected
                    matched += expected["matched_queries"]
            assert matched > 100  # the planted queries found their hashes


def test_each_kind_of_change_reaches_the_edge_within_two_seconds(
    upstream: Upstream, tmp_path: Path
) -> None:
    value = pdq_value(77)
    alpha, beta = upstream.headers["alpha"], upstream.headers["beta"]

    def hits(base: str, include_disputed: bool = False) -> list[tuple[int, str]]:
        result = _match(base, [value], include_disputed, beta if base == central else {})
        return [(hit["hash_id"], hit["status"]) for hit in result["results"][0]["matches"]]

    with (
        running_service(upstream.database_url) as central,
        running_edge(central, upstream.token_file, tmp_path / "edge", "--wait", "20") as edge,
    ):
        assert hits(edge.base_url) == []
        (hash_id,) = _submit(central, alpha, [value], [LABELS[0]])
        submitted = seconds_until(lambda: hits(edge.base_url) == [(hash_id, "active")])

        _dispute(central, beta, hash_id)
        assert hits(central) == []
        disputed = seconds_until(lambda: hits(edge.base_url) == [])
        assert hits(edge.base_url, include_disputed=True) == [(hash_id, "disputed")]

        other = _random_value(random.Random(3))  # far from `value`
        (second,) = _submit(central, beta, [other], [LABELS[0]])
        seconds_until(lambda: _applied(edge.base_url) >= _head(central, upstream.probe), 5)
        _retract(central, beta, second)
        retracted = seconds_until(
            lambda: _match(edge.base_url, [other], True, {})["matched_queries"] == 0
        )
    for kind, seconds in (
        ("submission", submitted),
        ("dispute", disputed),
        ("retraction", retracted),
    ):
        assert seconds < FRESHNESS_SECONDS, f"{kind} reached the edge after {seconds:.2f} s"


def test_an_edge_killed_during_its_sync_resumes_from_its_saved_cursor(
    upstream: Upstream, tmp_path: Path
) -> None:
    rng = random.Random(5)
    data = tmp_path / "edge"
    values = [_random_value(rng) for _ in range(12_000)]
    options = ("--no-snapshot", "--page-limit", "100", "--persist-seconds", "0.1", "--wait", "1")
    with running_service(upstream.database_url) as central:
        ids = []
        for start in range(0, len(values), 4000):
            ids += _submit(central, upstream.headers["alpha"], values[start : start + 4000], LABELS)
        for hash_id in ids[::50]:
            _retract(central, upstream.headers["alpha"], hash_id)
        head = _head(central, upstream.probe)
        matchable = _ready(central)["signal_types"]["pdq"]["size"]
        assert matchable == len(ids) - len(ids[::50])

        def saved_midway(url: str) -> bool:
            if not anything_answers(url) or not (data / "copy.npz").exists():
                return False
            return 0 < _ready(url)["feed"]["applied_seq"] < head

        with running_edge(central, upstream.token_file, data, *options, ready=saved_midway) as edge:
            edge.kill()
        restarted_token = tmp_path / "restarted-token"
        restarted_token.write_text(
            issue_token(
                Settings(dev_mode=True, database_url=upstream.database_url),
                member="alpha",
                scopes=["hashes:read"],
                sub="edge-restarted",
                ttl_seconds=900,
            )
        )
        with running_edge(central, restarted_token, data, *options) as edge:
            seconds_until(lambda: _applied(edge.base_url) >= _head(central, upstream.probe), 30)
            ready = _ready(edge.base_url)
            assert 0 < ready["resumed_from_seq"] < head
            assert ready["signal_types"]["pdq"]["size"] == matchable
            sample = rng.sample(range(len(values)), 200)
            result = _match(edge.base_url, [values[i] for i in sample], False, {})
            retracted = set(ids[::50])
            for position, answer in zip(sample, result["results"], strict=True):
                exact = [hit["hash_id"] for hit in answer["matches"] if hit["distance"] == 0]
                assert exact == ([] if ids[position] in retracted else [ids[position]])
    first = _feed_reads(upstream.database_url, "edge")
    restarted = _feed_reads(upstream.database_url, "edge-restarted")
    assert first[0]["from_seq"] == 0
    # The restarted edge read on from its saved cursor, not from the beginning, to the head.
    assert min(read["from_seq"] for read in restarted) == ready["resumed_from_seq"]
    assert max(read["to_seq"] for read in restarted) == head


def _feed_reads(database_url: str, sub: str) -> list[dict[str, Any]]:
    """The details of the `changes.read` audit events of the token subject `sub`, in order."""
    import asyncio

    from sqlalchemy import text

    from hashshare.db import create_engine

    async def read() -> list[dict[str, Any]]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as connection:
                rows = await connection.execute(
                    text(
                        "SELECT details FROM audit_events"
                        " WHERE action = 'changes.read' AND actor = :sub ORDER BY id"
                    ),
                    {"sub": sub},
                )
                return [json.loads(r[0]) if isinstance(r[0], str) else r[0] for r in rows]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_an_edge_whose_upstream_stops_keeps_serving_and_reports_staleness(
    upstream: Upstream, tmp_path: Path
) -> None:
    values = [pdq_value(i) for i in range(1, 21)]
    options = ("--wait", "0.5", "--max-staleness", "2")
    with contextlib.ExitStack() as service:
        central = service.enter_context(running_service(upstream.database_url))
        ids = _submit(central, upstream.headers["alpha"], values, LABELS)
        with running_edge(central, upstream.token_file, tmp_path / "edge", *options) as edge:
            seconds_until(lambda: _applied(edge.base_url) >= _head(central, upstream.probe), 5)
            before = _match(edge.base_url, values, False, {})
            assert [r["matches"][0]["hash_id"] for r in before["results"]] == ids
            service.close()  # the upstream stops; the edge goes on

            assert _match(edge.base_url, values, False, {}) == before
            seconds_until(
                lambda: httpx.get(f"{edge.base_url}/readyz", timeout=5).status_code == 503, 8
            )
            stale = _ready(edge.base_url)
            assert stale["status"] == "stale"
            assert stale["seconds_since_upstream"] > 2
            assert stale["feed"]["applied_seq"] == len(values)
            assert _match(edge.base_url, values, False, {}) == before


def _edge_days(base: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = httpx.get(f"{base}/v1/stats", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    days: list[dict[str, Any]] = response.json()["edge_matches_by_day"]
    return days


def _away_from_the_hour_end(seconds: float) -> None:
    """Start where the current hour has `seconds` left at least: the test keeps an hour in
    progress across a restart, and one that ended meanwhile would be sent."""
    now = datetime.now(UTC)
    left = 3600 - (now.minute * 60 + now.second + now.microsecond / 1e6)
    if left < seconds:
        time.sleep(left + 1)


def test_an_edge_reports_its_unsent_hours_once_and_keeps_the_current_one_over_a_restart(
    upstream: Upstream, tmp_path: Path
) -> None:
    _away_from_the_hour_end(90)
    settings = Settings(dev_mode=True, database_url=upstream.database_url)
    token_file = tmp_path / "reporting-token"
    token_file.write_text(
        issue_token(
            settings,
            member="alpha",
            scopes=["hashes:read", "matches:report"],
            sub="edge",
            ttl_seconds=900,
        )
    )
    auditor = issue_token(settings, member="beta", scopes=["audit:read"], sub="a", ttl_seconds=900)
    stats_headers = {"Authorization": f"Bearer {auditor}"}
    data = tmp_path / "edge"
    data.mkdir()
    # What an earlier run left: a completed hour it could not send before it stopped.
    earlier = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    left = {"hour": earlier.isoformat(), "matches": 6, "matches_by_label": {LABELS[0]: 6}}
    (data / "reports.json").write_text(json.dumps({"format": 1, "edge": "edge-a", "hours": [left]}))
    values = [pdq_value(i) for i in range(1, 6)]
    options = ("--wait", "0.5", "--persist-seconds", "0.2", "--report-counts")
    with running_service(upstream.database_url) as central:
        _submit(central, upstream.headers["alpha"], values, LABELS[:1])
        with running_edge(central, token_file, data, *options) as edge:
            seconds_until(lambda: _edge_days(central, stats_headers) != [], 10)
            matched = _match(edge.base_url, values, False, {})
            reports = _ready(edge.base_url)["reports"]
            assert reports["edge"] == "edge-a"
            assert reports["sent_hours"] == 1
        # Stopped: the hour in progress is saved, the one sent is gone from the file.
        saved = json.loads((data / "reports.json").read_text())
        matches = sum(len(r["matches"]) for r in matched["results"])
        assert [h["matches"] for h in saved["hours"]] == [matches]
        assert saved["hours"][0]["hour"] != earlier.isoformat()
        with running_edge(central, token_file, data, *options) as edge:
            assert _ready(edge.base_url)["reports"]["pending_hours"] == 1
        days = _edge_days(central, stats_headers)
    assert [(d["day"], d["matches"], d["matches_by_label"]) for d in days] == [
        (earlier.date().isoformat(), 6, {LABELS[0]: 6})
    ]
