"""Edge benchmark: initial sync and match latency of `hashshare edge` beside the service's.

One run: a scratch PostgreSQL database seeded with N PDQ hashes, `hashshare serve` on it
(its start-up loads the index from the database: the service's own "initial sync"), then
`hashshare edge` following it over loopback from an empty data folder (the edge's initial
sync: every change over GET /v1/changes, then its index built), then a restart of the edge
from its saved copy. Match latency: the same single-hash queries (stored values with a few
bits flipped, and random ones) sent one at a time over a kept-alive connection, alternately
to the service and to the edge; p50 and p99 of each, and their ratio. A sample of the
answers is compared: the edge must answer exactly as the service does.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from _common import (
    HOST,
    MEMBER,
    Service,
    free_port,
    http_json,
    parse_count,
    prepare_database,
    print_machine,
    running_service,
    scratch_database,
    stop_service,
)
from _http_setup import make_queries
from hashshare.auth.tokens import issue_token
from hashshare.config import Settings

ADMIN_URL = os.environ.get(
    "HASHSHARE_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)


def start_edge(
    upstream: str, token_file: Path, data: Path, workdir: Path, name: str, *options: str
) -> Service:
    port = free_port()
    log_path = workdir / f"{name}.log"
    log_file = open(log_path, "wb")  # noqa: SIM115 - closed in stop_service
    command = [
        sys.executable,
        "-m",
        "hashshare",
        "edge",
        "--upstream",
        upstream,
        "--token-file",
        str(token_file),
        "--data",
        str(data),
        "--port",
        str(port),
        "--persist-seconds",
        "30",
        *options,
    ]
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        command, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
    )
    return Service(process=process, port=port, log_path=log_path, log_file=log_file)


def wait_edge_ready(edge: Service, timeout: float) -> tuple[float, dict[str, Any]]:
    started = time.monotonic()
    while True:
        if edge.process.poll() is not None:
            raise RuntimeError(f"the edge exited:\n{edge.log_tail()}")
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"the edge was not ready after {timeout:.0f} s:\n{edge.log_tail()}")
        with contextlib.suppress(OSError, ValueError):
            status, answer = http_json(f"{edge.base}/readyz", timeout=5)
            if status == 200:
                return time.monotonic() - started, answer
        time.sleep(0.1)


@contextlib.contextmanager
def running_edge(
    upstream: str, token_file: Path, data: Path, workdir: Path, name: str, *options: str
) -> Iterator[tuple[Service, float, dict[str, Any]]]:
    edge = start_edge(upstream, token_file, data, workdir, name, *options)
    try:
        seconds, ready = wait_edge_ready(edge, 900)
        yield edge, seconds, ready
    finally:
        stop_service(edge)


def latencies(
    port: int, token: str | None, bodies: list[bytes]
) -> tuple[list[float], list[dict[str, Any]]]:
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    seconds: list[float] = []
    answers: list[dict[str, Any]] = []
    for body in bodies:
        started = time.perf_counter()
        connection.request("POST", "/v1/match", body, headers)
        response = connection.getresponse()
        payload = response.read()
        seconds.append(time.perf_counter() - started)
        if response.status != 200:
            raise RuntimeError(f"POST /v1/match answered {response.status}: {payload[:300]!r}")
        answers.append(json.loads(payload))
    connection.close()
    return seconds, answers


def memory_mb(pid: int) -> tuple[float, float]:
    """Resident and peak resident memory of a process (MB), from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def percentile(values: list[float], share: float) -> float:
    return float(np.percentile(np.array(values) * 1000, share))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="1M", help="hashes in the shared set, e.g. 1M")
    parser.add_argument("--queries", type=int, default=2000, help="single-hash queries per side")
    parser.add_argument(
        "--no-feed-sync",
        dest="feed_sync",
        action="store_false",
        help="skip the first sync through the change feed (the yardstick of the snapshot)",
    )
    args = parser.parse_args()
    n = parse_count(args.n)
    print_machine()
    rng = np.random.default_rng(12)
    values = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    queries = make_queries(values, args.queries, 0.5, 8, rng)
    bodies = [
        json.dumps({"queries": [{"signal_type": "pdq", "value": q.hex}]}).encode() for q in queries
    ]
    workdir = Path(tempfile.mkdtemp(prefix="hashshare-edge-bench-"))
    with scratch_database(ADMIN_URL, workdir, prefix="hashshare_edge") as database:
        prepare_database(database, values)
        settings = Settings(dev_mode=True, database_url=database.url)
        token = issue_token(
            settings,
            member=MEMBER,
            scopes=["hashes:read", "hashes:match"],
            sub="edge-bench",
            ttl_seconds=7200,
        )
        token_file = workdir / "token"
        token_file.write_text(token)
        started = time.monotonic()
        with running_service(database, workdir, 1, n, 900) as central:
            central_ready = time.monotonic() - started
            _, central_status = http_json(f"{central.base}/readyz")
            central_load = float(central_status["load_seconds"])
            data = workdir / "edge-data"
            with running_edge(central.base, token_file, data, workdir, "edge") as (
                edge,
                edge_ready,
                edge_status,
            ):
                edge_sync = float(edge_status["sync_seconds"])
                central_memory = memory_mb(central.process.pid)
                edge_memory = memory_mb(edge.process.pid)
                assert edge_status["signal_types"]["pdq"]["size"] == n, edge_status
                # Warm both (first requests build connections and caches), then alternate.
                latencies(central.port, token, bodies[:50])
                latencies(edge.port, None, bodies[:50])
                central_times: list[float] = []
                edge_times: list[float] = []
                central_answers: list[dict[str, Any]] = []
                edge_answers: list[dict[str, Any]] = []
                for start in range(0, len(bodies), 100):
                    chunk = bodies[start : start + 100]
                    times, answers = latencies(central.port, token, chunk)
                    central_times += times
                    central_answers += answers
                    times, answers = latencies(edge.port, None, chunk)
                    edge_times += times
                    edge_answers += answers
            size = sum(p.stat().st_size for p in data.iterdir())
            with running_edge(central.base, token_file, data, workdir, "edge-restart") as (
                _,
                restart_ready,
                restart_status,
            ):
                assert restart_status["resumed_from_seq"] == n, restart_status
            paged_ready = None
            if args.feed_sync:
                with running_edge(
                    central.base, token_file, workdir / "paged", workdir, "paged", "--no-snapshot"
                ) as (_, paged_ready, paged_status):
                    assert paged_status["signal_types"]["pdq"]["size"] == n, paged_status
    differing = sum(a != b for a, b in zip(central_answers, edge_answers, strict=True))
    matched = sum(a["matched_queries"] for a in edge_answers)
    print(f"set       N = {n:,} PDQ hashes; {len(bodies)} single-hash queries, {matched} matched")
    print(f"{'':<44} {'service':>10} {'edge':>10} {'edge/service':>13}")
    print(
        f"{'initial sync: ready after start (s)':<44} {central_ready:10.1f} {edge_ready:10.1f} "
        f"{edge_ready / central_ready:12.2f}x"
    )
    print(
        f"{'  of which loading/sync itself (s)':<44} {central_load:10.1f} {edge_sync:10.1f} "
        f"{edge_sync / central_load:12.2f}x"
    )
    for label, share in (("match latency p50 (ms)", 50), ("match latency p99 (ms)", 99)):
        c, e = percentile(central_times, share), percentile(edge_times, share)
        print(f"{label:<44} {c:10.2f} {e:10.2f} {e / c:12.2f}x")
    central_mb, edge_mb = (f"{now:.0f}/{peak:.0f}" for now, peak in (central_memory, edge_memory))
    print(f"{'memory once ready: resident/peak (MB)':<44} {central_mb:>10} {edge_mb:>10}")
    print(f"edge restart from its saved copy: ready in {restart_ready:.1f} s")
    if paged_ready is not None:
        print(
            f"edge first sync paging GET /v1/changes instead of the snapshot: ready in "
            f"{paged_ready:.1f} s ({paged_ready / edge_ready:.1f}x the snapshot's)"
        )
    print(f"edge copy on disk: {size / 1e6:.1f} MB ({size / n:.0f} B/hash)")
    print(f"answers that differ between service and edge: {differing} of {len(bodies)}")
    target = 60 * max(1.0, n / 1_000_000)  # 1 M in a minute, 10 M in ten
    print(
        f"target: initial sync of {args.n} <= {target:.0f} s -> "
        f"{'met' if edge_ready <= target else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
