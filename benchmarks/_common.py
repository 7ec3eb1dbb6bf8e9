"""Plumbing the benchmarks share: the machine, a scratch database, seeding it, a service.

Each benchmark prints figures beside a baseline measured in the same run; what they share is
how they describe the machine, provision a private database (a temporary SQLite file, or a
database created on a PostgreSQL server and dropped at the end), fill it with hashes the way
the API leaves them (one `hashes`, `contributions` and `changes` row each, by plain SQL:
`executemany` on SQLite, `COPY` on PostgreSQL), and start `hashshare serve` as a subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import re
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.engine import make_url

from hashshare import db
from hashshare.auth.principal import Actor
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


@dataclass
class Database:
    url: str
    description: str
    tmpdir: Path | None = None
    pg_admin_url: str | None = None
    pg_name: str | None = None


async def pg_connect(url: str) -> Any:
    """A plain asyncpg connection to the database a SQLAlchemy URL names."""
    import asyncpg

    target = make_url(url)
    return await asyncpg.connect(
        host=target.host,
        port=target.port or 5432,
        user=target.username,
        password=target.password,
        database=target.database,
        timeout=10,
    )


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
            await MemberService(service_database, 0).add(uow, actor, MEMBER, "Benchmarks")
    finally:
        await service_database.dispose()


# The key column of each seeded table: seeding appends after the rows already there.
KEYS = (("hashes", "id"), ("contributions", "id"), ("changes", "seq"))


def row_chunks(
    values: U8, now: object, first: tuple[int, int, int] = (1, 1, 1)
) -> Iterator[tuple[list[Any], list[Any], list[Any]]]:
    """(hashes, contributions, changes) rows, INSERT_CHUNK at a time, numbered from `first`."""
    first_hash, first_contribution, first_change = first
    for start in range(0, len(values), INSERT_CHUNK):
        hashes: list[Any] = []
        contributions: list[Any] = []
        changes: list[Any] = []
        for offset, row in enumerate(values[start : start + INSERT_CHUNK]):
            n = start + offset
            hash_id = first_hash + n
            value = row.tobytes()
            hashes.append((hash_id, "pdq", value, "active", LABELS_JSON, 1, now, now, now))
            contributions.append(
                (first_contribution + n, hash_id, MEMBER, LABELS_JSON, None, QUALITY, now, now)
            )
            changes.append((first_change + n, hash_id, "pdq", value, "active", LABELS_JSON, 1, now))
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
        first = tuple(
            int(conn.execute(f"SELECT coalesce(max({key}), 0) + 1 FROM {table}").fetchone()[0])  # noqa: S608
            for table, key in KEYS
        )
        with conn:
            for hashes, contributions, changes in row_chunks(values, now, first):  # type: ignore[arg-type]
                conn.executemany(insert_sql("hashes"), hashes)
                conn.executemany(insert_sql("contributions"), contributions)
                conn.executemany(insert_sql("changes"), changes)
        conn.execute("ANALYZE")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


async def insert_postgres(url: str, values: U8) -> None:
    import asyncpg

    conn = await pg_connect(url)
    now = dt.datetime.now(dt.UTC)
    try:
        first = tuple(
            [
                int(await conn.fetchval(f"SELECT coalesce(max({key}), 0) + 1 FROM {table}"))  # noqa: S608
                for table, key in KEYS
            ]
        )
        async with conn.transaction():
            for hashes, contributions, changes in row_chunks(values, now, first):  # type: ignore[arg-type]
                for table, rows in (
                    ("hashes", hashes),
                    ("contributions", contributions),
                    ("changes", changes),
                ):
                    await conn.copy_records_to_table(table, records=rows, columns=COLUMNS[table])
            for table, column in KEYS:
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
    """Run the migrations and add the member the benchmarks act as."""
    upgrade(database.url)
    asyncio.run(_add_member(database.url))


def seed_database(database: Database, values: U8) -> float:
    """Append `values` as hashes the API would have stored; return the seconds it took."""
    started = time.perf_counter()
    if database.pg_name is None:
        insert_sqlite(database.url, values)
    else:
        asyncio.run(insert_postgres(database.url, values))
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
