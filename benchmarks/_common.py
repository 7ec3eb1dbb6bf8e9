"""Plumbing the benchmarks share: the machine, a scratch database, seeding it, a service.

Each benchmark prints figures beside a baseline measured in the same run; what they share is
how they describe the machine, provision a private database (a temporary SQLite file, or a
database created on a PostgreSQL server and dropped at the end), fill it with hashes the way
the API leaves them (one `hashes`, `contributions` and `changes` row each, written in the
columns the migrations made, read back from the database: `executemany` on SQLite, `COPY` on
PostgreSQL), start `hashshare serve` as a subprocess, and account for the CPU time of the
processes on the machine while they run.
"""

from __future__ import annotations

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
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, inspect
from sqlalchemy.engine import make_url

from hashshare import db
from hashshare.auth.principal import Actor
from hashshare.db import pg_connect
from hashshare.members.service import MemberService
from hashshare.migrations import upgrade

U8 = npt.NDArray[np.uint8]

HOST = "127.0.0.1"
MEMBER = "bench"
LABELS = ["attacker-manifesto"]
LABELS_JSON = json.dumps(LABELS)
QUALITY = 100
INSERT_CHUNK = 50_000


def parse_count(text: str) -> int:
    text = text.strip().lower().replace("_", "").replace(",", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


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


def print_machine() -> None:
    """Date, machine, system, code version and load: the first lines of every report."""
    load = os.getloadavg()
    print(f"date      {dt.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"machine   {cpu_model()}, {os.cpu_count()} cores, {total_ram_gib():.1f} GiB RAM")
    print(f"system    {platform.platform()}, Python {platform.python_version()}")
    print(f"code      {code_version()}")
    print(f"load avg  {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min) before the run")


# --------------------------------------------------------------------------- database


@dataclass(frozen=True)
class SchemaColumn:
    name: str
    required: bool  # NOT NULL without a server default: seeding must give it a value


Schema = dict[str, tuple[SchemaColumn, ...]]


@dataclass
class Database:
    url: str
    description: str
    tmpdir: Path | None = None
    pg_admin_url: str | None = None
    pg_name: str | None = None
    schema: Schema = field(default_factory=dict)  # set by migrate_database


async def _pg_execute(url: str, sql: str) -> None:
    conn = await pg_connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_database(
    database_url: str | None, workdir: Path, prefix: str = "hashshare_bench"
) -> Database:
    """A temporary SQLite file in `workdir`, or a private database on the PostgreSQL server."""
    if database_url is None:
        path = workdir / "hashshare.db"
        return Database(url=f"sqlite+aiosqlite:///{path}", description=f"SQLite {path}")
    admin = make_url(database_url)
    if admin.get_backend_name() != "postgresql":
        sys.exit("--database-url must be postgresql+asyncpg://...")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_execute(database_url, f'CREATE DATABASE "{name}"'))
    url = admin.set(database=name).render_as_string(hide_password=False)
    shown = admin.set(database=name).render_as_string(hide_password=True)
    return Database(
        url=url,
        description=f"PostgreSQL {shown} (private, dropped at the end)",
        pg_admin_url=database_url,
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
    service_database = db.Database(url)
    try:
        async with service_database.unit() as uow:
            actor = Actor(sub="benchmark", member_id=None, request_id=None)
            await MemberService().add(uow, actor, MEMBER, "Benchmarks")
    finally:
        await service_database.dispose()


# The seeded tables and their key columns: seeding appends after the rows already there.
KEYS = {"hashes": "id", "contributions": "id", "changes": "seq"}


async def _reflect(url: str) -> Schema:
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:

            def columns(sync: Connection) -> Schema:
                inspector = inspect(sync)
                return {
                    table: tuple(
                        SchemaColumn(
                            column["name"],
                            not column["nullable"] and column.get("default") is None,
                        )
                        for column in inspector.get_columns(table)
                    )
                    for table in KEYS
                }

            return await conn.run_sync(columns)
    finally:
        await engine.dispose()


def reflect_schema(url: str) -> Schema:
    """The seeded tables' columns, in order, as the migrations left them in the database."""
    return asyncio.run(_reflect(url))


def _table_rows(
    table: str, columns: tuple[SchemaColumn, ...], fields: dict[str, Any], count: int
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """(column names, rows) of `fields` (a value, or a sequence of `count` values, per name)."""
    unknown = set(fields) - {column.name for column in columns}
    if unknown:
        raise RuntimeError(f"the migrated {table} table has no column {sorted(unknown)}")
    missing = [c.name for c in columns if c.required and c.name not in fields]
    if missing:
        raise RuntimeError(f"seeding gives no value for the required {table} columns {missing}")
    names = [column.name for column in columns if column.name in fields]
    series = [
        fields[name] if isinstance(fields[name], range | list) else repeat(fields[name], count)
        for name in names
    ]
    # Constants repeat without end: the sequences, `count` long each, bound the rows.
    return names, list(zip(*series, strict=False))


def row_chunks(
    schema: Schema, values: U8, now: object, first: dict[str, int]
) -> Iterator[dict[str, tuple[list[str], list[tuple[Any, ...]]]]]:
    """Rows of the seeded tables, as the API leaves a hash, INSERT_CHUNK values at a time.

    Each table's rows are numbered from `first[table]`; a hash is active, has the labels
    LABELS and one contribution, by MEMBER, and one change.
    """
    for start in range(0, len(values), INSERT_CHUNK):
        chunk = [row.tobytes() for row in values[start : start + INSERT_CHUNK]]
        count = len(chunk)
        ids = {table: range(first[table] + start, first[table] + start + count) for table in KEYS}
        fields: dict[str, dict[str, Any]] = {
            "hashes": {
                "id": ids["hashes"],
                "signal_type": "pdq",
                "value": chunk,
                "status": "active",
                "labels": LABELS_JSON,
                "contributors": 1,
                "first_contributed_at": now,
                "last_contributed_at": now,
                "updated_at": now,
            },
            "contributions": {
                "id": ids["contributions"],
                "hash_id": ids["hashes"],
                "member_id": MEMBER,
                "labels": LABELS_JSON,
                "quality": QUALITY,
                "created_at": now,
                "updated_at": now,
            },
            "changes": {
                "seq": ids["changes"],
                "hash_id": ids["hashes"],
                "signal_type": "pdq",
                "value": chunk,
                "status": "active",
                "labels": LABELS_JSON,
                "contributors": 1,
                "changed_at": now,
            },
        }
        yield {table: _table_rows(table, schema[table], fields[table], count) for table in KEYS}


def sqlite_now() -> str:
    """Now as SQLAlchemy keeps SQLite datetimes: naive UTC text in this format."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def sqlite_append(conn: sqlite3.Connection, schema: Schema, values: U8) -> None:
    """Insert `values` after the rows already there, inside the caller's transaction."""
    first = {
        table: int(conn.execute(f"SELECT coalesce(max({key}), 0) + 1 FROM {table}").fetchone()[0])  # noqa: S608
        for table, key in KEYS.items()
    }
    for chunk in row_chunks(schema, values, sqlite_now(), first):
        for table, (names, rows) in chunk.items():
            marks = ", ".join("?" * len(names))
            sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})"  # noqa: S608
            conn.executemany(sql, rows)


async def postgres_append(conn: Any, schema: Schema, values: U8, first: dict[str, int]) -> None:
    """COPY `values` into the seeded tables, numbered from `first`, on an asyncpg connection."""
    for chunk in row_chunks(schema, values, dt.datetime.now(dt.UTC), first):
        for table, (names, rows) in chunk.items():
            await conn.copy_records_to_table(table, records=rows, columns=names)


def insert_sqlite(url: str, schema: Schema, values: U8) -> None:
    path = make_url(url).database
    assert path
    conn = sqlite3.connect(path)
    try:
        # Millions of rows in one transaction go straight into the file, not through the WAL
        # (whose index slows every page write of so large a transaction); WAL again after.
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA synchronous=OFF")
        with conn:
            sqlite_append(conn, schema, values)
        conn.execute("ANALYZE")
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()


async def insert_postgres(url: str, schema: Schema, values: U8) -> None:
    import asyncpg

    conn = await pg_connect(url)
    try:
        first = {
            table: int(await conn.fetchval(f"SELECT coalesce(max({key}), 0) + 1 FROM {table}"))  # noqa: S608
            for table, key in KEYS.items()
        }
        async with conn.transaction():
            await postgres_append(conn, schema, values, first)
            for table, column in KEYS.items():
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


def migrate_database(database: Database) -> None:
    """Run the migrations, note the schema they made and add the member the benchmarks act as."""
    upgrade(database.url)
    database.schema = reflect_schema(database.url)
    asyncio.run(_add_member(database.url))


def seed_database(database: Database, values: U8) -> float:
    """Append `values` as hashes the API would have stored; return the seconds it took."""
    if not database.schema:
        raise RuntimeError("seed_database needs migrate_database first")
    started = time.perf_counter()
    if database.pg_name is None:
        insert_sqlite(database.url, database.schema, values)
    else:
        asyncio.run(insert_postgres(database.url, database.schema, values))
    # Write the load out now (SQLite's WAL checkpointed, PostgreSQL's CHECKPOINT, then the
    # kernel's dirty pages), so that the measurement does not pay for flushing the setup.
    os.sync()
    return time.perf_counter() - started


def prepare_database(database: Database, values: U8) -> None:
    started = time.perf_counter()
    migrate_database(database)
    migrated = time.perf_counter()
    seeded = seed_database(database, values)
    print(
        f"database  {database.description}: migrated in {migrated - started:.1f} s, "
        f"{len(values):,} hashes + contributions + changes inserted in {seeded:.1f} s"
    )


@contextlib.contextmanager
def scratch_database(
    database_url: str | None, workdir: Path, prefix: str = "hashshare_bench"
) -> Iterator[Database]:
    """`create_database`, dropped again on the way out (a failure to drop only warns)."""
    database = create_database(database_url, workdir, prefix)
    try:
        yield database
    finally:
        try:
            drop_database(database)
        except Exception as exc:
            print(f"warning: could not drop {database.pg_name}: {exc}", file=sys.stderr)


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


def start_service(database: Database, workdir: Path, workers: int) -> Service:
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
        str(workers),
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


def wait_ready(service: Service, workers: int, pdq_size: int, timeout: float) -> dict[str, Any]:
    """Wait until every worker has loaded its index; return the last /readyz answer."""
    started = time.monotonic()
    deadline = started + timeout
    last: dict[str, Any] = {}
    while True:
        if service.process.poll() is not None:
            raise RuntimeError(service_exit_message(service))
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the service was not ready after {timeout:.0f} s:\n" + service.log_tail()
            )
        started_workers = service.log_text().count("Application startup complete.")
        with contextlib.suppress(OSError, ValueError):
            status, answer = http_json(f"{service.base}/readyz", timeout=5)
            if status == 200:
                last = answer
        size = last.get("signal_types", {}).get("pdq", {}).get("size")
        if started_workers >= workers and size == pdq_size:
            break
        time.sleep(0.5)
    # Each worker reports its own load time: sample fresh connections to see them all.
    load_times: set[float] = set()
    for _ in range(60):
        _, answer = http_json(f"{service.base}/readyz", timeout=5)
        load_times.add(round(float(answer.get("load_seconds") or 0.0), 3))
        if len(load_times) >= workers:
            break
    shown = ", ".join(f"{t:.1f} s" for t in sorted(load_times))
    print(
        f"service   {workers} worker(s) ready in {time.monotonic() - started:.1f} s "
        f"(index load per worker seen on /readyz: {shown})"
    )
    return last


@contextlib.contextmanager
def running_service(
    database: Database, workdir: Path, workers: int, pdq_size: int, ready_timeout: float
) -> Iterator[Service]:
    """`hashshare serve` on `database`, ready with `pdq_size` hashes; stopped on the way out."""
    service = start_service(database, workdir, workers)
    try:
        wait_ready(service, workers, pdq_size, ready_timeout)
        yield service
    finally:
        stop_service(service)


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


# --------------------------------------------------------------------------- CPU accounting

CLK_TCK = os.sysconf("SC_CLK_TCK")

# pid -> (parent pid, command name, user + system CPU time in clock ticks)
ProcessTimes = dict[int, tuple[int, str, int]]


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


def all_process_times() -> ProcessTimes:
    found: ProcessTimes = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _proc_stat(int(entry))
            if stat is not None:
                found[int(entry)] = stat
    return found


def descendants(root: int, table: ProcessTimes) -> set[int]:
    """`root` and every process below it."""
    found = {root}
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _, _) in table.items():
            if ppid in found and pid not in found:
                found.add(pid)
                grew = True
    return found


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine from /proc/stat, in clock ticks."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest is already counted in user)
    total = sum(fields[:8])
    return total - fields[3] - fields[4], total


def is_backend_of(pid: int, comm: str, database: str | None) -> bool:
    """Whether the process is a PostgreSQL backend serving `database`."""
    if database is None or comm != "postgres":
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return f" {database} ".encode() in cmdline.read()
    except OSError:
        return False


@dataclass
class CpuSnapshot:
    at: float
    busy: int
    processes: ProcessTimes
    children: resource.struct_rusage
    own: resource.struct_rusage

    @staticmethod
    def take() -> CpuSnapshot:
        return CpuSnapshot(
            at=time.monotonic(),
            busy=machine_jiffies()[0],
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


def cpu_usage(
    before: CpuSnapshot,
    after: CpuSnapshot,
    server_pid: int,
    generator_is_child: bool,
    pg_database: str | None,
) -> CpuUsage:
    """Split the machine's CPU time between two snapshots by who used it.

    The service is `server_pid` and its descendants (the workers); the load generator is
    either a child process reaped between the snapshots or this process itself.
    """
    seconds = max(after.at - before.at, 1e-9)
    service_pids = descendants(server_pid, after.processes)
    own_pid = os.getpid()
    db_pids = {
        pid
        for pid, (_, comm, _) in after.processes.items()
        if is_backend_of(pid, comm, pg_database)
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
    first, last = (
        (before.children, after.children) if generator_is_child else (before.own, after.own)
    )
    generator = (last.ru_utime + last.ru_stime - first.ru_utime - first.ru_stime) / seconds
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
        generator=generator,
        other=max(0.0, machine - service - database - generator),
        machine=machine,
        busiest_other=[item for item in others[:3] if item[2] >= 0.05],
    )
