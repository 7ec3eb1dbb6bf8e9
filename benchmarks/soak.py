"""Soak: a bounded run of mixed traffic against a service holding many hashes.

    .venv/bin/python benchmarks/soak.py [--minutes 10] [--n 1000000] [--database-url URL]

A scratch database (SQLite in a temporary folder, or a private PostgreSQL database that is
dropped at the end) is seeded with `--n` random PDQ hashes, `hashshare serve` loads them,
and `--concurrency` clients on loopback send, for `--minutes`, 95 % matches (one query a
stored hash with a few bits flipped) and 5 % submissions (one new hash each). Every minute it
prints requests and throughput, latency percentiles of each kind (p50/p99/p99.9), errors and
the service's resident memory (the process and its children), and each minute's throughput
and match p99 as a ratio to the first minute's (the baseline of the same run): a soak that
holds keeps them near 1 and its memory levels off. Any error makes the exit status 1.

The clients are Python on the same machine: throughput is what they can drive, not the
service's ceiling (see http_bench.py for that).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from _common import MEMBER, U8, Service, print_machine, report_service_log
from _http_setup import seeded_service
from hashshare.auth.tokens import issue_token
from hashshare.config import Settings

MATCH_SHARE = 0.95
MAX_FLIP = 8


@dataclass
class Minute:
    match_ms: list[float] = field(default_factory=list)
    submit_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)

    def error(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1


def _rss_mib(root: int) -> float:
    """Resident memory of `root` and its descendants, MiB."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    total_kib, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total_kib += int(line.split()[1])
        except OSError:
            continue
    return total_kib / 1024


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


async def _client(
    service: Service,
    token: str,
    values: U8,
    seed: int,
    deadline: float,
    minutes: list[Minute],
    started: float,
) -> None:
    rng = np.random.default_rng(seed)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=service.base, headers=headers, timeout=30) as client:
        while (now := time.monotonic()) < deadline:
            minute = minutes[min(int((now - started) // 60), len(minutes) - 1)]
            if rng.random() < MATCH_SHARE:
                raw = values[int(rng.integers(0, len(values)))].copy()
                for bit in rng.choice(256, size=int(rng.integers(0, MAX_FLIP + 1)), replace=False):
                    raw[bit // 8] ^= 1 << (bit % 8)
                body = {"queries": [{"signal_type": "pdq", "value": raw.tobytes().hex()}]}
                path, kind = "/v1/match", "match"
            else:
                value = rng.integers(0, 256, size=32, dtype=np.uint8).tobytes()  # new: 2^-256
                body = {
                    "hashes": [
                        {
                            "signal_type": "pdq",
                            "value": value.hex(),
                            "labels": ["attacker-manifesto"],
                        }
                    ]
                }
                path, kind = "/v1/hashes", "submit"
            sent = time.perf_counter()
            try:
                response = await client.post(path, json=body)
            except httpx.HTTPError as exc:
                minute.error(type(exc).__name__)
                continue
            elapsed = (time.perf_counter() - sent) * 1000
            if response.status_code != 200:
                minute.error(f"{kind} {response.status_code}")
                continue
            if kind == "match" and not response.json()["results"][0]["matches"]:
                minute.error("match found nothing")  # every query is within MAX_FLIP bits
            (minute.match_ms if kind == "match" else minute.submit_ms).append(elapsed)


async def _sample_memory(service: Service, deadline: float, samples: list[float]) -> None:
    while time.monotonic() < deadline:
        await asyncio.sleep(min(60.0, max(0.0, deadline - time.monotonic())))
        samples.append(_rss_mib(service.process.pid))


async def _soak(
    service: Service, token: str, values: U8, options: argparse.Namespace
) -> tuple[list[Minute], list[float]]:
    count = math.ceil(options.minutes)
    minutes = [Minute() for _ in range(count)]
    started = time.monotonic()
    deadline = started + options.minutes * 60
    memory = [_rss_mib(service.process.pid)]
    await asyncio.gather(
        _sample_memory(service, deadline, memory),
        *(
            _client(service, token, values, seed, deadline, minutes, started)
            for seed in range(options.concurrency)
        ),
    )
    return minutes, memory


def _report(minutes: list[Minute], memory: list[float], total_seconds: float) -> int:
    print(
        f"{'min':>3} {'requests':>8} {'req/s':>7} {'x min1':>6} {'match p50':>9} {'p99':>7} "
        f"{'p99.9':>7} {'x min1':>6} {'submit p50':>10} {'p99':>7} {'errors':>6} {'RSS MiB':>8}"
    )
    base_rate = base_p99 = None
    errors = 0
    for number, minute in enumerate(minutes, start=1):
        requests = len(minute.match_ms) + len(minute.submit_ms)
        rate = requests / min(60.0, total_seconds - 60.0 * (number - 1))
        p99 = _percentile(minute.match_ms, 99)
        base_rate = base_rate or rate or None
        base_p99 = base_p99 or p99 or None
        rss = memory[min(number, len(memory) - 1)]
        print(
            f"{number:>3} {requests:>8} {rate:>7.1f} {rate / (base_rate or 1):>6.2f} "
            f"{_percentile(minute.match_ms, 50):>9.1f} {p99:>7.1f} "
            f"{_percentile(minute.match_ms, 99.9):>7.1f} {p99 / (base_p99 or 1):>6.2f} "
            f"{_percentile(minute.submit_ms, 50):>10.1f} "
            f"{_percentile(minute.submit_ms, 99):>7.1f} {minute.errors:>6} {rss:>8.0f}"
        )
        errors += minute.errors
        for kind, n in sorted(minute.error_kinds.items()):
            print(f"      {n} x {kind}")
    print(f"latencies in ms; RSS before the load: {memory[0]:.0f} MiB; errors in all: {errors}")
    return 1 if errors else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long (default 10)")
    parser.add_argument("--n", type=int, default=1_000_000, help="hashes held (default 1 M)")
    parser.add_argument("--concurrency", type=int, default=8, help="clients (default 8)")
    parser.add_argument("--workers", type=int, default=1, help="service worker processes")
    parser.add_argument("--database-url", help="PostgreSQL server (default: SQLite)")
    parser.add_argument("--seed", type=int, default=14)
    options = parser.parse_args(argv)
    if not 0 < options.minutes <= 60:
        parser.error("--minutes must be in (0, 60]: the soak is bounded")
    print_machine()
    rng = np.random.default_rng(options.seed)
    values: U8 = rng.integers(0, 256, size=(options.n, 32), dtype=np.uint8)
    with (
        tempfile.TemporaryDirectory(prefix="hashshare-soak-") as workdir,
        seeded_service(options.database_url, Path(workdir), values, options.workers, 900) as (
            database,
            service,
        ),
    ):
        token = issue_token(
            Settings(dev_mode=True, database_url=database.url),
            member=MEMBER,
            scopes=["hashes:match", "hashes:submit"],
            sub="soak",
            ttl_seconds=int(options.minutes * 60) + 3600,
        )
        print(
            f"load      {options.concurrency} clients, {MATCH_SHARE:.0%} match / "
            f"{1 - MATCH_SHARE:.0%} submit, {options.minutes:g} min, {options.n:,} hashes"
        )
        minutes, memory = asyncio.run(_soak(service, token, values, options))
        status = _report(minutes, memory, options.minutes * 60)
        report_service_log(service)
    return status


if __name__ == "__main__":
    sys.exit(main())
