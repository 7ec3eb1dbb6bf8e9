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
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.engine import make_url

from hashshare.audit.service import Actor
from hashshare.auth.tokens import issue_token
from hashshare.config import Settings
from hashshare.db import create_engine, create_session_factory
from hashshare.members.service import add_member
from hashshare.migrations import upgrade

U8 = npt.NDArray[np.uint8]

HOST = "127.0.0.1"
MEMBER = "bench"
LABELS_JSON = json.dumps(["attacker-manifesto"])
INSERT_CHUNK = 50_000
SINGLE_TARGET_RPS = 1_500
BATCH_TARGET_LOOKUPS = 20_000
CLK_TCK = os.sysconf("SC_CLK_TCK")
DEFAULT_MAX_DISTANCE = 31


# --------------------------------------------------------------------------- options


def parse_count(text: str) -> int:
    text = text.strip().lower().replace("_", "").replace(",", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


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


def cpu_model() -> str:
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def total_ram_gib() -> float:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    return float("nan")


def wrk_version() -> str:
    if not shutil.which("wrk"):
        return "not installed"
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)  # noqa: S607
    first = (done.stdout or done.stderr).strip().splitlines()
    return first[0] if first else "unknown"


def code_version() -> str:
    """Commit of the checkout and how many files under services/ differ from it."""
    repo = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        done = subprocess.run(  # noqa: S603
            ["git", "-C", str(repo), *args],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = [line for line in git("status", "--porcelain", "--", "services").splitlines() if line]
    return f"commit {commit}, {len(changed)} uncommitted change(s) under services/"


def print_machine(options: Options) -> None:
    load = os.getloadavg()
    print(f"date      {dt.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"machine   {cpu_model()}, {os.cpu_count()} cores, {total_ram_gib():.1f} GiB RAM")
    print(f"system    {platform.platform()}, Python {platform.python_version()}")
    print(f"code      {code_version()}")
    print(f"load avg  {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min) before the run")
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


# --------------------------------------------------------------------------- database


@dataclass
class Database:
    url: str
    description: str
    tmpdir: Path | None = None
    pg_admin_url: str | None = None
    pg_name: str | None = None


async def _pg_execute(url: str, sql: str) -> None:
    import asyncpg

    target = make_url(url)
    conn = await asyncpg.connect(
        host=target.host,
        port=target.port or 5432,
        user=target.username,
        password=target.password,
        database=target.database,
        timeout=10,
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_database(options: Options, workdir: Path) -> Database:
    if options.database_url is None:
        path = workdir / "hashshare.db"
        return Database(url=f"sqlite+aiosqlite:///{path}", description=f"SQLite {path}")
    admin = make_url(options.database_url)
    if admin.get_backend_name() != "postgresql":
        sys.exit("--database-url must be postgresql+asyncpg://...")
    name = f"hashshare_bench_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_execute(options.database_url, f'CREATE DATABASE "{name}"'))
    url = admin.set(database=name).render_as_string(hide_password=False)
    shown = admin.set(database=name).render_as_string(hide_password=True)
    return Database(
        url=url,
        description=f"PostgreSQL {shown} (private, dropped at the end)",
        pg_admin_url=options.database_url,
        pg_name=name,
    )


def drop_database(database: Database) -> None:
    if database.pg_admin_url is not None and database.pg_name is not None:
        asyncio.run(
            _pg_execute(
                database.pg_admin_url, f'DROP DATABASE IF EXISTS "{database.pg_name}" WITH (FORCE)'
            )
        )


async def _add_member(url: str) -> None:
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            actor = Actor(sub="http_bench", member_id=None, request_id=None)
            await add_member(session, actor, MEMBER, "HTTP benchmark")
    finally:
        await engine.dispose()


def _row_chunks(values: U8, now: object) -> Iterator[tuple[list[Any], list[Any], list[Any]]]:
    """(hashes, contributions, changes) rows, INSERT_CHUNK at a time; ids are 1..N."""
    for start in range(0, len(values), INSERT_CHUNK):
        hashes: list[Any] = []
        contributions: list[Any] = []
        changes: list[Any] = []
        for offset, row in enumerate(values[start : start + INSERT_CHUNK]):
            hash_id = start + offset + 1
            value = row.tobytes()
            hashes.append((hash_id, "pdq", value, "active", LABELS_JSON, 1, now, now, now))
            contributions.append((hash_id, hash_id, MEMBER, LABELS_JSON, None, 100, now, now))
            changes.append((hash_id, hash_id, "pdq", value, "active", LABELS_JSON, 1, now))
        yield hashes, contributions, changes


COLUMNS = {
    "hashes": (
        "id",
        "signal_type",
        "value",
        "status",
        "labels",
        "contributors",
        "first_contributed_at",
        "last_contributed_at",
        "updated_at",
    ),
    "contributions": (
        "id",
        "hash_id",
        "member_id",
        "labels",
        "external_ref",
        "quality",
        "created_at",
        "updated_at",
    ),
    "changes": (
        "seq",
        "hash_id",
        "signal_type",
        "value",
        "status",
        "labels",
        "contributors",
        "changed_at",
    ),
}


def insert_sql(table: str) -> str:
    columns = COLUMNS[table]
    names, marks = ", ".join(columns), ", ".join("?" * len(columns))
    return f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608 - constant names


def insert_sqlite(url: str, values: U8) -> None:
    # SQLAlchemy keeps SQLite datetimes as naive UTC text in this format.
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    path = make_url(url).database
    assert path
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        with conn:
            for hashes, contributions, changes in _row_chunks(values, now):
                conn.executemany(insert_sql("hashes"), hashes)
                conn.executemany(insert_sql("contributions"), contributions)
                conn.executemany(insert_sql("changes"), changes)
        conn.execute("ANALYZE")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


async def insert_postgres(url: str, values: U8) -> None:
    import asyncpg

    target = make_url(url)
    conn = await asyncpg.connect(
        host=target.host,
        port=target.port or 5432,
        user=target.username,
        password=target.password,
        database=target.database,
    )
    now = dt.datetime.now(dt.UTC)
    try:
        async with conn.transaction():
            for hashes, contributions, changes in _row_chunks(values, now):
                for table, rows in (
                    ("hashes", hashes),
                    ("contributions", contributions),
                    ("changes", changes),
                ):
                    await conn.copy_records_to_table(table, records=rows, columns=COLUMNS[table])
            for table, column in (("hashes", "id"), ("contributions", "id"), ("changes", "seq")):
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"  # noqa: S608
                    f" (SELECT max({column}) FROM {table}))"
                )
        await conn.execute("ANALYZE")
        try:
            await conn.execute("CHECKPOINT")
        except asyncpg.InsufficientPrivilegeError:
            print("note      CHECKPOINT not allowed for this user: the run may pay for the load's")
            print("          writes (flushed by PostgreSQL while the service is measured)")
    finally:
        await conn.close()


def prepare_database(database: Database, values: U8) -> None:
    started = time.perf_counter()
    upgrade(database.url)
    asyncio.run(_add_member(database.url))
    migrated = time.perf_counter()
    if database.pg_name is None:
        insert_sqlite(database.url, values)
    else:
        asyncio.run(insert_postgres(database.url, values))
    # Write the load out now (SQLite's WAL checkpointed, PostgreSQL's CHECKPOINT, then the
    # kernel's dirty pages), so that the measurement does not pay for flushing the setup.
    os.sync()
    done = time.perf_counter()
    print(
        f"database  {database.description}: migrated in {migrated - started:.1f} s, "
        f"{len(values):,} hashes + contributions + changes inserted in {done - migrated:.1f} s"
    )


# --------------------------------------------------------------------------- service


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    log_file: Any

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_text(self) -> str:
        self.log_file.flush()
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


def start_service(options: Options, database: Database, workdir: Path) -> Service:
    port = free_port()
    env = dict(os.environ, HASHSHARE_DEV_MODE="1", HASHSHARE_DATABASE_URL=database.url)
    log_path = workdir / "server.log"
    log_file = open(log_path, "wb")  # noqa: SIM115 - closed in stop_service
    command = [
        sys.executable,
        "-m",
        "hashshare",
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(options.workers),
    ]
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        command, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
    )
    return Service(process=process, port=port, log_path=log_path, log_file=log_file)


def service_exit_message(service: Service) -> str:
    why = f"the service exited early with status {service.process.returncode}"
    if "Received SIGTERM" in service.log_text():
        why += " after a SIGTERM that this script did not send (another process stopped it)"
    return f"{why}:\n{service.log_tail()}"


def stop_service(service: Service) -> None:
    if service.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(service.process.pid, signal.SIGTERM)  # the group we started
        try:
            service.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait(timeout=10)
    service.log_file.close()


def http_json(
    url: str, body: bytes | None = None, token: str | None = None, timeout: float = 30.0
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", "Connection": "close"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(  # noqa: S310 - always http://127.0.0.1
        url, data=body, headers=headers, method="POST" if body is not None else "GET"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def wait_ready(service: Service, options: Options) -> dict[str, Any]:
    """Wait until every worker has loaded its index; return the last /readyz answer."""
    started = time.monotonic()
    deadline = started + options.ready_timeout
    last: dict[str, Any] = {}
    while True:
        if service.process.poll() is not None:
            raise RuntimeError(service_exit_message(service))
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the service was not ready after {options.ready_timeout:.0f} s:\n"
                + service.log_tail()
            )
        started_workers = service.log_text().count("Application startup complete.")
        with contextlib.suppress(OSError, ValueError):
            status, answer = http_json(f"{service.base}/readyz", timeout=5)
            if status == 200:
                last = answer
        size = last.get("signal_types", {}).get("pdq", {}).get("size")
        if started_workers >= options.workers and size == options.n:
            break
        time.sleep(0.5)
    # Each worker reports its own load time: sample fresh connections to see them all.
    load_times: set[float] = set()
    for _ in range(60):
        _, answer = http_json(f"{service.base}/readyz", timeout=5)
        load_times.add(round(float(answer.get("load_seconds") or 0.0), 3))
        if len(load_times) >= options.workers:
            break
    shown = ", ".join(f"{t:.1f} s" for t in sorted(load_times))
    print(
        f"service   {options.workers} worker(s) ready in {time.monotonic() - started:.1f} s "
        f"(index load per worker seen on /readyz: {shown})"
    )
    return last


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


def report_service_log(service: Service) -> None:
    """Count the service's errors by kind; keep a copy of its log when there are any."""
    text = service.log_text()
    kinds: dict[str, int] = {}
    for line in text.splitlines():
        if re.match(r"^[\w.]+(Error|Exception): ", line) or line.startswith(("ERROR", "CRITICAL")):
            kinds[line[:160]] = kinds.get(line[:160], 0) + 1
    if not kinds:
        print("service   log: no errors")
        return
    kept = Path(tempfile.gettempdir()) / f"hashshare-http-bench-server-{os.getpid()}.log"
    shutil.copyfile(service.log_path, kept)
    print(f"service   log has errors (full log kept in {kept}); lines by count:")
    for line, count in sorted(kinds.items(), key=lambda item: -item[1])[:8]:
        print(f"  {count:>6} x {line}")


# --------------------------------------------------------------------------- main


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    signal.signal(signal.SIGTERM, _terminate)
    print_machine(options)
    rng = np.random.default_rng(options.seed)
    values: U8 = rng.integers(0, 256, size=(options.n, 32), dtype=np.uint8)

    workdir = Path(tempfile.mkdtemp(prefix="hashshare-http-bench-"))
    database: Database | None = None
    service: Service | None = None
    try:
        database = create_database(options, workdir)
        prepare_database(database, values)
        service = start_service(options, database, workdir)
        wait_ready(service, options)
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
