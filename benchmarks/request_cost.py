"""CPU instructions per request, counted by valgrind: a figure the machine's load does not move.

Requests per second and CPU milliseconds move with whatever else the machine runs; the number
of instructions the service executes for a request does not. This script runs `hashshare
serve` (one worker, SQLite) under valgrind's callgrind with counting off, seeds it, turns
counting on for exactly `--requests` sequential requests of each scenario and reads the total
back: instructions per request, with `GET /healthz` (the framework's floor) measured in the
same run.

`--baseline PATH` measures a second checkout the same way in the same run (its own `.venv`,
made by `make install` there) and prints both side by side, e.g. the commit before a change:

    git worktree add /tmp/before <rev> && make -C /tmp/before install
    .venv/bin/python benchmarks/request_cost.py --baseline /tmp/before

Everything the server process does for a request is counted: parsing, authentication, the
index lookup, the audit event's insert and commit (SQLite runs in the process), serialising
the answer, and the event loop's share. Counting runs about 50 times slower than the CPU, so
the defaults are small; the figures do not depend on the size of the set beyond the lookup.

The server's timers (the change poll, the access list refresh) run whether or not requests
arrive, so a window counts more of them the longer it lasts, and a loaded machine makes it
last longer. The script sets them to their slowest (nothing changes meanwhile), counts the
idle server for 10 s (what is left: uvicorn's own tick) and prints each scenario twice: gross,
and `(net)` of the idle rate times the window's length: the cost of the requests alone.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from _common import HOST, free_port, parse_count, print_machine

ROOT = Path(__file__).resolve().parent.parent
MEMBER = "bench"
IDLE = "idle (per second)"
IDLE_SECONDS = 10.0
# The server's timers at their slowest (nothing changes the set or the members meanwhile), so
# that what is counted is the requests' work; settings a checkout does not know are ignored.
QUIET_TIMERS = {
    "HASHSHARE_FEED_POLL_SECONDS": "60",
    "HASHSHARE_ACCESS_REFRESH_SECONDS": "60",
    "HASHSHARE_CHECKPOINT_INTERVAL_MINUTES": "0",
    "HASHSHARE_MEMBER_CACHE_SECONDS": "3600",
}


@dataclass(frozen=True)
class Scenario:
    name: str
    method: str
    path: str
    body: Callable[[int], bytes] | None


def _hexes(rng: np.random.Generator, count: int) -> list[str]:
    """Random PDQ values with a bit weight real images have (the service refuses others)."""
    rows = rng.integers(0, 256, size=(count * 2, 32), dtype=np.uint8)
    weights = np.unpackbits(rows, axis=1).sum(axis=1)
    kept = rows[(weights >= 108) & (weights <= 148)][:count]
    return [bytes(row).hex() for row in kept]


def scenarios(stored: list[str], rng: np.random.Generator) -> list[Scenario]:
    def flipped(i: int) -> str:
        value = bytearray.fromhex(stored[i % len(stored)])
        value[i % 32] ^= 0x0F  # 4 bits away: a hit
        return value.hex()

    def one(i: int) -> bytes:
        return json.dumps({"queries": [{"signal_type": "pdq", "value": flipped(i)}]}).encode()

    misses = _hexes(rng, 100)

    def hundred(i: int) -> bytes:
        queries = [{"signal_type": "pdq", "value": flipped(i * 100 + k)} for k in range(50)]
        queries += [{"signal_type": "pdq", "value": v} for v in misses[:50]]
        return json.dumps({"queries": queries}).encode()

    return [
        Scenario("GET /healthz", "GET", "/healthz", None),
        Scenario("POST /v1/match, 1 query", "POST", "/v1/match", one),
        Scenario("POST /v1/match, 100 queries", "POST", "/v1/match", hundred),
    ]


def _cli(python: Path, env: dict[str, str], *args: str) -> str:
    command = [str(python), "-m", "hashshare", *args]
    # our own interpreter and arguments
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        sys.exit(f"hashshare {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout.strip()


def _wait_ready(client: httpx.Client, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the service exited with status {process.returncode} before it was ready")
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(1)
    sys.exit(f"the service was not ready after {timeout:.0f} s")


def _serve(
    python: Path, env: dict[str, str], port: int, log: Path, callgrind: Path | None
) -> subprocess.Popen[bytes]:
    command = [str(python), "-m", "hashshare", "serve", "--host", HOST, "--port", str(port)]
    if callgrind is not None:
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={callgrind}",
            *command,
        ]
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True)  # noqa: S603,S607


def _instructions(dump: Path) -> int:
    """The instructions of one callgrind dump (its `totals:` line)."""
    for line in dump.read_text(errors="replace").splitlines():
        found = re.match(r"totals:\s+(\d+)", line)
        if found:
            return int(found.group(1))
    sys.exit(f"no totals in {dump}")


def measure(checkout: Path, hashes: int, requests: int, seed: int) -> dict[str, float]:
    """Instructions per request of each scenario for the code in `checkout`."""
    python = checkout / ".venv" / "bin" / "python"
    if not python.exists():
        sys.exit(f"{python} is missing: run `make install` in {checkout}")
    rng = np.random.default_rng(seed)
    stored = _hexes(rng, hashes)
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="request-cost-") as tmp:
        work = Path(tmp)
        env = dict(
            os.environ,
            HASHSHARE_DEV_MODE="1",
            HASHSHARE_DATABASE_URL=f"sqlite+aiosqlite:///{work / 'hashshare.db'}",
            **QUIET_TIMERS,
        )
        _cli(python, env, "db", "upgrade")
        _cli(python, env, "member", "add", MEMBER, "--name", "Bench")
        token = _cli(
            python, env, "token", "issue", "--member", MEMBER,
            "--scope", "hashes:submit hashes:match", "--ttl", "86400",
        )  # fmt: skip
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        port = free_port()
        base = f"http://{HOST}:{port}"

        # Seed through the API at full speed, then serve the seeded database under valgrind.
        seeding = _serve(python, env, port, work / "seed.log", None)
        try:
            with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
                _wait_ready(client, seeding, 120)
                for start in range(0, hashes, 5_000):
                    items = [
                        {"signal_type": "pdq", "value": v, "labels": ["attacker-manifesto"]}
                        for v in stored[start : start + 5_000]
                    ]
                    answer = client.post("/v1/hashes", content=json.dumps({"hashes": items}))
                    if answer.status_code != 200:
                        sys.exit(f"seeding: {answer.status_code} {answer.text[:300]}")
        finally:
            _stop(seeding)

        out = work / "callgrind.out"
        process = _serve(python, env, port, work / "serve.log", out)
        try:
            with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
                _wait_ready(client, process, 900)

                def counted(work_for: Callable[[], None]) -> tuple[int, float]:
                    """Instructions and seconds of the server while `work_for` runs."""
                    _control("--zero", str(process.pid))
                    _control("--instr=on", str(process.pid))
                    started = time.monotonic()
                    work_for()
                    time.sleep(0.5)  # the audit writer's last commit
                    seconds = time.monotonic() - started
                    _control("--instr=off", str(process.pid))
                    before = set(work.glob("callgrind.out*"))
                    _control("--dump", str(process.pid))
                    dumps = sorted(set(work.glob("callgrind.out*")) - before)
                    return _instructions(dumps[-1]), seconds

                # What the server does with no request (its timers: the change poll, the
                # access list refresh...), per second: subtracted from each window below, so
                # that a slower machine, which makes the window longer, does not add to it.
                idle, idle_seconds = counted(lambda: time.sleep(IDLE_SECONDS))
                results[IDLE] = idle / idle_seconds
                for scenario in scenarios(stored, rng):

                    def send(i: int, scenario: Scenario = scenario) -> None:
                        body = scenario.body(i) if scenario.body else None
                        answer = client.request(scenario.method, scenario.path, content=body)
                        if answer.status_code != 200:
                            sys.exit(f"{scenario.name}: {answer.status_code} {answer.text[:200]}")

                    for i in range(20):  # warm: caches, lazy imports, the connection
                        send(requests + i)
                    total, seconds = counted(lambda: [send(i) for i in range(requests)] and None)
                    results[scenario.name] = total / requests
                    results[f"{scenario.name} (net)"] = (total - results[IDLE] * seconds) / requests
        finally:
            _stop(process)
    return results


def _commit(checkout: Path) -> str:
    command = ["git", "-C", str(checkout), "log", "-1", "--format=%h %s"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    return done.stdout.strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hashes", type=parse_count, default=10_000, help="stored PDQ hashes")
    parser.add_argument("--requests", type=int, default=200, help="counted requests a scenario")
    parser.add_argument(
        "--checkout", type=Path, default=ROOT, help="the checkout to measure (default: this one)"
    )
    parser.add_argument("--baseline", type=Path, help="another checkout to measure beside it")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print_machine()
    print(f"{args.hashes:,} PDQ hashes; {args.requests} requests each")
    for checkout in (args.checkout, args.baseline):
        if checkout is not None:
            print(f"{checkout}: commit {_commit(checkout)}")
    measured = measure(args.checkout.resolve(), args.hashes, args.requests, args.seed)
    runs = {str(args.checkout): measured}
    if args.baseline is not None:
        label = f"baseline {args.baseline}"
        runs[label] = measure(args.baseline.resolve(), args.hashes, args.requests, args.seed)
    names = [name for name in next(iter(runs.values())) if name != IDLE]
    header = "| scenario | " + " | ".join(f"{k} (M instr/req)" for k in runs)
    header += " | ratio |" if len(runs) == 2 else " |"
    print(header)
    print("|---" * (len(runs) + 1 + (len(runs) == 2)) + "|")
    for name in names:
        figures = [run[name] for run in runs.values()]
        row = f"| {name} | " + " | ".join(f"{f / 1e6:.2f}" for f in figures)
        row += f" | {figures[0] / figures[1]:.3f} |" if len(figures) == 2 else " |"
        print(row)
    for k, run in runs.items():
        print(f"{k}: idle {run[IDLE] / 1e6:.2f} M instructions a second")
    floor = {k: run["GET /healthz (net)"] for k, run in runs.items()}
    for k, run in runs.items():
        ratios = ", ".join(
            f"{n} {run[n] / floor[k]:.1f}x"
            for n in names
            if n.endswith("(net)") and "healthz" not in n
        )
        print(f"{k}: against its own /healthz (net): {ratios}")


if __name__ == "__main__":
    main()
