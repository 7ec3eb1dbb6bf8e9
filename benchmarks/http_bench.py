"""HTTP load benchmark of ``POST /v1/match`` on a running service, over loopback.

What it does, in one run:

1. Prepares its own database: a temporary SQLite file (default), or with ``--database-url``
   a private database created on that PostgreSQL server (dropped afterwards). Runs the
   migrations, adds the member ``bench`` (audited, through the service layer) and
   bulk-inserts ``--n`` random PDQ hashes with plain SQL, not through the API
   (``executemany`` on SQLite; ``COPY`` on PostgreSQL, where executemany takes minutes for
   1M rows): one ``hashes`` row each (active, labels ``["attacker-manifesto"]``, 1
   contributor), one ``contributions`` row and one ``changes`` row (as the API leaves them).
   Then writes the load out (WAL checkpoint on SQLite, CHECKPOINT on PostgreSQL, sync), so
   the measurement does not pay for flushing the setup's rows.
2. Starts ``python -m hashshare serve --port P --workers W`` with ``HASHSHARE_DEV_MODE=1``,
   waits until every worker has loaded its match index (W x "Application startup complete."
   and ``/readyz`` reporting N PDQ hashes), and issues a ``hashes:match`` token.
3. Checks that prepared queries match as intended, then loads the service with ``wrk``
   (closed loop: ``--connections`` keep-alive connections, ``--threads`` threads, a warm-up
   run then ``--duration`` seconds per scenario): ``GET /healthz`` (framework ceiling),
   ``POST /v1/match`` with 1 query, with ``--batch`` (100) queries. Match bodies are
   pre-generated (``--bodies``) and rotated by a Lua script; ``--random-fraction`` of the
   queries are random hashes (no match), the others are loaded hashes with 1..``--max-flip``
   bits flipped (they match at the default max_distance of 31). Without ``wrk`` (or with
   ``--generator python``) an asyncio raw-socket generator is used instead, and the output
   says so: it needs far more CPU than wrk for the same load.
4. Prints the machine, the code version, the table (requests/s, lookups/s, p50/p99 latency,
   ratio to ``/healthz``, non-2xx answers, service CPU time per request, and the cores used
   during each run by the service, each worker, PostgreSQL, the generator and every other
   process on the machine), the targets (>= 1,500 single-query requests/s, >= 20,000
   lookups/s in batches) with the rate the measured CPU cost would allow on the whole
   machine, and the errors in the service's log (kept in /tmp when there are any). Stops the
   service and removes the database at the end, also on error or Ctrl-C.

Latency is what wrk measures per request at a fixed concurrency: queueing in the service is
included, so p50 is roughly connections / throughput.

Needs ``wrk`` (Debian: ``apt-get install -y wrk``). From the repository root::

    .venv/bin/python benchmarks/http_bench.py
    .venv/bin/python benchmarks/http_bench.py --n 100k --duration 5 --workers 1
    .venv/bin/python benchmarks/http_bench.py \
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import numpy as np

from _common import (
    HOST,
    MEMBER,
    U8,
    Database,
    Service,
    create_database,
    drop_database,
    http_json,
    parse_count,
    prepare_database,
    print_machine,
    report_service_log,
    service_exit_message,
    start_service,
    stop_service,
    wait_ready,
    wrk_version,
)
from hashshare.auth.tokens import issue_token
from hashshare.config import Settings

SINGLE_TARGET_RPS = 1_500
BATCH_TARGET_LOOKUPS = 20_000
CLK_TCK = os.sysconf("SC_CLK_TCK")
DEFAULT_MAX_DISTANCE = 31


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class Options:
    n: int
    workers: int
    database_url: str | None
    duration: int
    warmup: int
    connections: int
    threads: int
    batch: int
    bodies: int
    random_fraction: float
    max_flip: int
    generator: str
    seed: int
    ready_timeout: float


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=parse_count, default=1_000_000, help="PDQ hashes (1M, 100k)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--database-url",
        help="PostgreSQL server (postgresql+asyncpg://user@host:port/db): a private database "
        "is created there and dropped at the end. Default: a temporary SQLite file.",
    )
    parser.add_argument("--duration", type=int, default=15, help="seconds per scenario")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of discarded warm-up")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--batch", type=int, default=100, help="queries per batch request")
    parser.add_argument("--bodies", type=int, default=300, help="pre-generated bodies per run")
    parser.add_argument("--random-fraction", type=float, default=0.2, help="queries not stored")
    parser.add_argument("--max-flip", type=int, default=16, help="bits flipped in near-dups")
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ready-timeout", type=float, default=900.0, help="seconds")
    args = parser.parse_args(argv)
    if args.n < 1 or args.workers < 1 or args.connections < 1 or args.batch < 1:
        parser.error("--n, --workers, --connections and --batch must be positive")
    if not 0 < args.max_flip < DEFAULT_MAX_DISTANCE:
        parser.error(f"--max-flip must be in 1..{DEFAULT_MAX_DISTANCE - 1}")
    generator = args.generator
    if generator == "auto":
        generator = "wrk" if shutil.which("wrk") else "python"
    elif generator == "wrk" and not shutil.which("wrk"):
        parser.error("wrk not found: apt-get install -y wrk")
    return Options(
        n=args.n,
        workers=args.workers,
        database_url=args.database_url,
        duration=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        threads=args.threads,
        batch=args.batch,
        bodies=args.bodies,
        random_fraction=args.random_fraction,
        max_flip=args.max_flip,
        generator=generator,
        seed=args.seed,
        ready_timeout=args.ready_timeout,
    )


# --------------------------------------------------------------------------- machine


def print_setup(options: Options) -> None:
    print_machine()
    print(
        f"setup     N={options.n:,} PDQ hashes, workers={options.workers}, "
        f"connections={options.connections}, wrk threads={options.threads}, "
        f"{options.duration} s per scenario (+{options.warmup} s warm-up), "
        f"batch={options.batch}, {options.random_fraction:.0%} of queries random"
    )
    if options.generator == "wrk":
        print(f"generator wrk ({wrk_version()}) on the same machine, loopback")
    else:
        print(
            "generator PYTHON ASYNCIO FALLBACK (wrk not used): one Python process, raw sockets; "
            "it costs far more CPU per request than wrk, so figures understate the service"
        )


# --------------------------------------------------------------------------- CPU accounting


def _proc_stat(pid: int) -> tuple[int, str, int] | None:
    """(ppid, comm, utime+stime jiffies) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            raw = stat.read()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), comm, int(fields[11]) + int(fields[12])


def all_process_times() -> dict[int, tuple[int, str, int]]:
    found: dict[int, tuple[int, str, int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _proc_stat(int(entry))
            if stat is not None:
                found[int(entry)] = stat
    return found


def descendants(root: int, table: dict[int, tuple[int, str, int]]) -> set[int]:
    found = {root}
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _, _) in table.items():
            if ppid in found and pid not in found:
                found.add(pid)
                grew = True
    return found


def machine_busy_jiffies() -> int:
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest is included in user)
    return sum(fields[:8]) - fields[3] - fields[4]


@dataclass
class CpuSnapshot:
    at: float
    busy: int
    processes: dict[int, tuple[int, str, int]]
    children: resource.struct_rusage
    own: resource.struct_rusage

    @staticmethod
    def take() -> CpuSnapshot:
        return CpuSnapshot(
            at=time.monotonic(),
            busy=machine_busy_jiffies(),
            processes=all_process_times(),
            children=resource.getrusage(resource.RUSAGE_CHILDREN),
            own=resource.getrusage(resource.RUSAGE_SELF),
        )


@dataclass
class CpuUsage:
    """Cores used during one run (1.0 = one core busy the whole time)."""

    service: float
    workers: list[float]
    database: float  # PostgreSQL backends serving the benchmark's database
    generator: float
    other: float
    machine: float
    busiest_other: list[tuple[str, int, float]]


def _is_backend_of(pid: int, comm: str, database: str | None) -> bool:
    if database is None or comm != "postgres":
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return f" {database} ".encode() in cmdline.read()
    except OSError:
        return False


def cpu_usage(
    before: CpuSnapshot,
    after: CpuSnapshot,
    server_pid: int,
    generator: str,
    pg_database: str | None,
) -> CpuUsage:
    seconds = max(after.at - before.at, 1e-9)
    service_pids = descendants(server_pid, after.processes)
    own_pid = os.getpid()
    db_pids = {
        pid
        for pid, (_, comm, _) in after.processes.items()
        if _is_backend_of(pid, comm, pg_database)
    }

    def cores(pid: int) -> float:
        end = after.processes.get(pid)
        if end is None:
            return 0.0
        start = before.processes.get(pid)
        used = end[2] - (start[2] if start is not None and start[1] == end[1] else 0)
        return used / CLK_TCK / seconds

    workers = [cores(pid) for pid in sorted(service_pids) if pid != server_pid] or [
        cores(server_pid)
    ]
    service = sum(cores(pid) for pid in service_pids)
    if generator == "wrk":  # wrk is a child reaped between the snapshots
        gen = (
            after.children.ru_utime
            + after.children.ru_stime
            - before.children.ru_utime
            - before.children.ru_stime
        ) / seconds
    else:
        gen = (
            after.own.ru_utime + after.own.ru_stime - before.own.ru_utime - before.own.ru_stime
        ) / seconds
    machine = (after.busy - before.busy) / CLK_TCK / seconds
    database = sum(cores(pid) for pid in db_pids)
    others = [
        (after.processes[pid][1], pid, cores(pid))
        for pid in after.processes
        if pid not in service_pids and pid not in db_pids and pid != own_pid
    ]
    others.sort(key=lambda item: -item[2])
    return CpuUsage(
        service=service,
        workers=[w for w in workers if w > 0.005] or workers,
        database=database,
        generator=gen,
        other=max(0.0, machine - service - database - gen),
        machine=machine,
        busiest_other=[item for item in others[:3] if item[2] >= 0.05],
    )


# --------------------------------------------------------------------------- queries


@dataclass
class Query:
    hex: str
    expected_id: int | None  # the stored hash it was derived from, None if random


def make_queries(values: U8, count: int, options: Options, rng: np.random.Generator) -> list[Query]:
    queries: list[Query] = []
    for _ in range(count):
        if rng.random() < options.random_fraction:
            raw = rng.integers(0, 256, size=32, dtype=np.uint8)
            queries.append(Query(raw.tobytes().hex(), None))
            continue
        index = int(rng.integers(0, len(values)))
        bits = np.unpackbits(values[index])
        flip = rng.choice(256, size=int(rng.integers(1, options.max_flip + 1)), replace=False)
        bits[flip] ^= 1
        queries.append(Query(np.packbits(bits).tobytes().hex(), index + 1))
    return queries


def match_body(queries: Sequence[Query]) -> str:
    items = [{"signal_type": "pdq", "value": q.hex} for q in queries]
    return json.dumps({"queries": items}, separators=(",", ":"))


def check_bodies(
    service: Service, token: str, bodies: list[str], queries: list[list[Query]], label: str
) -> None:
    """Send a few bodies once; every derived query must find its hash, random ones nothing."""
    sample = min(len(bodies), 20)
    expected = found = unexpected = 0
    for body, body_queries in zip(bodies[:sample], queries[:sample], strict=True):
        status, answer = http_json(f"{service.base}/v1/match", body.encode(), token)
        if status != 200:
            raise RuntimeError(f"POST /v1/match answered {status}: {answer}")
        for query, result in zip(body_queries, answer["results"], strict=True):
            ids = {hit["hash_id"] for hit in result["matches"]}
            if query.expected_id is None:
                unexpected += bool(ids)
            else:
                expected += 1
                found += query.expected_id in ids
                hit = result["matches"][0]
                if hit["labels"] != ["attacker-manifesto"] or hit["contributors"] != 1:
                    raise RuntimeError(f"unexpected match metadata: {hit}")
    total = sum(len(q) for q in queries[:sample])
    print(
        f"check     {label}: {sample} bodies, {total} queries: {found}/{expected} near-duplicates "
        f"found, {unexpected} random queries matched"
    )
    if found != expected or unexpected:
        raise RuntimeError("prepared queries do not match as intended")


def lua_script(bodies: list[str], token: str) -> str:
    items = ",\n".join(f"[==[{body}]==]" for body in bodies)
    return f"""-- generated by benchmarks/http_bench.py
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
local bodies = {{
{items}
}}
local n = #bodies
local threads = 0
local i = 0
function setup(thread)
  thread:set("offset", threads * 7919)
  threads = threads + 1
end
function init(args)
  i = (offset or 0) % n
end
function request()
  i = i % n + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
"""


# --------------------------------------------------------------------------- load generators


@dataclass
class Scenario:
    name: str
    path: str
    queries_per_request: int
    bodies: list[str] = field(default_factory=list)
    script: Path | None = None


@dataclass
class RunResult:
    scenario: Scenario
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    bad_status: int
    socket_errors: str
    cpu: CpuUsage

    @property
    def cpu_ms_per_request(self) -> float:
        """CPU time of the service (and its PostgreSQL backends) per request."""
        used = (self.cpu.service + self.cpu.database) * self.seconds
        return 1e3 * used / max(self.requests, 1)

    def ceiling_rps(self) -> float:
        """Requests/s if the service had every core but the generator's, at this CPU cost."""
        cores = (os.cpu_count() or 1) - self.cpu.generator
        return 1e3 * cores / max(self.cpu_ms_per_request, 1e-9)

    @property
    def lookups(self) -> float:
        return self.rps * self.scenario.queries_per_request


_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if match is None:
        raise ValueError(f"cannot parse wrk duration {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> tuple[int, float, float, float, float, int, str]:
    """(requests, seconds, requests/s, p50 ms, p99 ms, non-2xx, socket errors) of wrk output."""
    percentiles = {
        int(m.group(1)): _duration_ms(m.group(2))
        for m in re.finditer(r"^\s+(\d+)%\s+(\S+)\s*$", output, re.MULTILINE)
    }
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if total is None or rps is None or 50 not in percentiles or 99 not in percentiles:
        raise RuntimeError(f"cannot parse wrk output:\n{output}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:\s+(.+)", output)
    seconds = _duration_ms(total.group(2) + total.group(3)) / 1e3
    return (
        int(total.group(1)),
        seconds,
        float(rps.group(1)),
        percentiles[50],
        percentiles[99],
        int(bad.group(1)) if bad else 0,
        errors.group(1).strip() if errors else "none",
    )


def run_wrk(service: Service, scenario: Scenario, options: Options, seconds: int) -> str:
    command = [
        "wrk",
        f"--threads={min(options.threads, options.connections)}",
        f"--connections={options.connections}",
        f"--duration={seconds}s",
        "--timeout=10s",
        "--latency",
    ]
    if scenario.script is not None:
        command.append(f"--script={scenario.script}")
    command.append(service.base + scenario.path)
    done = subprocess.run(  # noqa: S603
        command, capture_output=True, text=True, check=False, timeout=seconds + 60
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr}{done.stdout}")
    return done.stdout


def _raw_requests(service: Service, scenario: Scenario, token: str) -> list[bytes]:
    host = f"Host: {HOST}:{service.port}\r\n"
    if not scenario.bodies:
        return [f"GET {scenario.path} HTTP/1.1\r\n{host}\r\n".encode()]
    return [
        (
            f"POST {scenario.path} HTTP/1.1\r\n{host}Content-Type: application/json\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n{body}"
        ).encode()
        for body in scenario.bodies
    ]


async def _python_load(
    service: Service, requests: list[bytes], connections: int, seconds: float
) -> tuple[list[float], int, int]:
    latencies: list[float] = []
    bad = 0
    errors = 0
    deadline = time.perf_counter() + seconds

    async def connection(offset: int) -> None:
        nonlocal bad, errors
        try:
            reader, writer = await asyncio.open_connection(HOST, service.port)
        except OSError:
            errors += 1
            return
        i = offset
        try:
            while time.perf_counter() < deadline:
                request = requests[i % len(requests)]
                i += 1
                started = time.perf_counter()
                writer.write(request)
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                if length is None:
                    raise RuntimeError("response without Content-Length")
                await reader.readexactly(int(length.group(1)))
                latencies.append(time.perf_counter() - started)
                if not head.startswith((b"HTTP/1.1 2", b"HTTP/1.1 3")):
                    bad += 1
        except (OSError, asyncio.IncompleteReadError):
            errors += 1
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    await asyncio.gather(*(connection(k * 7919) for k in range(connections)))
    return latencies, bad, errors


def run_scenario(
    service: Service, scenario: Scenario, options: Options, token: str, pg_database: str | None
) -> RunResult:
    if options.generator == "wrk":
        if options.warmup:
            run_wrk(service, scenario, options, options.warmup)
        before = CpuSnapshot.take()
        output = run_wrk(service, scenario, options, options.duration)
        after = CpuSnapshot.take()
        requests, seconds, rps, p50, p99, bad, errors = parse_wrk(output)
    else:
        raw = _raw_requests(service, scenario, token)
        if options.warmup:
            asyncio.run(_python_load(service, raw, options.connections, options.warmup))
        before = CpuSnapshot.take()
        started = time.perf_counter()
        latencies, bad, error_count = asyncio.run(
            _python_load(service, raw, options.connections, options.duration)
        )
        seconds = time.perf_counter() - started
        after = CpuSnapshot.take()
        requests = len(latencies)
        rps = requests / seconds
        ordered = np.sort(np.array(latencies)) * 1e3 if latencies else np.array([np.nan])
        p50 = float(np.percentile(ordered, 50))
        p99 = float(np.percentile(ordered, 99))
        errors = f"{error_count} connections failed" if error_count else "none"
    cpu = cpu_usage(before, after, service.process.pid, options.generator, pg_database)
    return RunResult(scenario, requests, seconds, rps, p50, p99, bad, errors, cpu)


# --------------------------------------------------------------------------- report


def print_results(results: list[RunResult], options: Options) -> None:
    base = next((r for r in results if r.scenario.path == "/healthz"), None)
    postgres = options.database_url is not None
    gen = "wrk" if options.generator == "wrk" else "python"
    print()
    header = (
        f"{'scenario':<20} {'requests/s':>10} {'lookups/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'vs healthz':>10} {'non-2xx':>7} {'CPU ms/req':>10} | cores: {'service':>7} "
        f"{'workers':>11}" + (f" {'postgres':>8}" if postgres else "") + f" {gen:>6} {'other':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        lookups = f"{r.lookups:,.0f}" if r.scenario.queries_per_request else "-"
        ratio = f"{r.rps / base.rps:.1%}" if base is not None and base is not r else "-"
        per_worker = "+".join(f"{w:.2f}" for w in r.cpu.workers)
        print(
            f"{r.scenario.name:<20} {r.rps:>10,.0f} {lookups:>10} {r.p50_ms:>8.2f} "
            f"{r.p99_ms:>8.2f} {ratio:>10} {r.bad_status:>7} {r.cpu_ms_per_request:>10.2f} |"
            f"        {r.cpu.service:>7.2f} {per_worker:>11}"
            + (f" {r.cpu.database:>8.2f}" if postgres else "")
            + f" {r.cpu.generator:>6.2f} {r.cpu.other:>6.2f}"
        )
    print(
        "CPU ms/req: CPU time of the service"
        + (" and its PostgreSQL backends" if postgres else "")
        + f" per request; cores: busy during the run, of {os.cpu_count()}; 'other' = "
        "processes that are not part of this benchmark"
    )
    print()
    for r in results:
        busiest = ", ".join(f"{name}[{pid}] {used:.2f}" for name, pid, used in r.cpu.busiest_other)
        print(
            f"{r.scenario.name}: {r.requests:,} requests in {r.seconds:.1f} s, socket errors: "
            f"{r.socket_errors}; machine busy {r.cpu.machine:.2f} of {os.cpu_count()} cores; "
            f"busiest other processes: {busiest or 'none'}"
        )
    print()
    single = next((r for r in results if r.scenario.queries_per_request == 1), None)
    batch = next((r for r in results if r.scenario.queries_per_request > 1), None)
    if single is not None:
        met = single.rps >= SINGLE_TARGET_RPS and single.bad_status == 0
        print(
            f"target    single-query match >= {SINGLE_TARGET_RPS:,} requests/s: "
            f"{single.rps:,.0f} -> {'met' if met else 'NOT MET'}"
            f"{'' if single.bad_status == 0 else f' ({single.bad_status} errors)'}; at "
            f"{single.cpu_ms_per_request:.2f} CPU ms/request the whole machine would give "
            f"~{single.ceiling_rps():,.0f}"
        )
    if batch is not None:
        met = batch.lookups >= BATCH_TARGET_LOOKUPS and batch.bad_status == 0
        per_query = batch.scenario.queries_per_request
        print(
            f"target    batched match ({options.batch}/request) >= {BATCH_TARGET_LOOKUPS:,} "
            f"lookups/s: {batch.lookups:,.0f} -> {'met' if met else 'NOT MET'}"
            f"{'' if batch.bad_status == 0 else f' ({batch.bad_status} errors)'}; at "
            f"{batch.cpu_ms_per_request:.2f} CPU ms/request the whole machine would give "
            f"~{batch.ceiling_rps() * per_query:,.0f}"
        )
    load = os.getloadavg()
    print(f"load avg  {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min) after the run")


# --------------------------------------------------------------------------- main


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    signal.signal(signal.SIGTERM, _terminate)
    print_setup(options)
    rng = np.random.default_rng(options.seed)
    values: U8 = rng.integers(0, 256, size=(options.n, 32), dtype=np.uint8)

    workdir = Path(tempfile.mkdtemp(prefix="hashshare-http-bench-"))
    database: Database | None = None
    service: Service | None = None
    try:
        database = create_database(options.database_url, workdir)
        prepare_database(database, values)
        service = start_service(database, workdir, options.workers)
        wait_ready(service, options.workers, options.n, options.ready_timeout)
        token = issue_token(
            Settings(dev_mode=True, database_url=database.url),
            member=MEMBER,
            scopes=["hashes:match"],
            sub="bench",
            ttl_seconds=3600,
        )

        scenarios = [Scenario("GET /healthz", "/healthz", 0)]
        for size, count in ((1, options.bodies), (options.batch, max(options.bodies // 3, 1))):
            groups = [make_queries(values, size, options, rng) for _ in range(count)]
            bodies = [match_body(group) for group in groups]
            name = f"POST /v1/match x{size}"
            check_bodies(service, token, bodies, groups, name)
            script = workdir / f"match_{size}.lua"
            script.write_text(lua_script(bodies, token))
            scenarios.append(Scenario(name, "/v1/match", size, bodies, script))

        results = []
        for scenario in scenarios:
            results.append(run_scenario(service, scenario, options, token, database.pg_name))
            if service.process.poll() is not None:
                raise RuntimeError(service_exit_message(service))
        print_results(results, options)
        report_service_log(service)
        return 0
    finally:
        if service is not None:
            stop_service(service)
        if database is not None:
            try:
                drop_database(database)
            except Exception as exc:
                print(f"warning: could not drop {database.pg_name}: {exc}", file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
