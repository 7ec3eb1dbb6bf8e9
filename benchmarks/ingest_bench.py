"""Bulk submission through ``POST /v1/hashes`` at real set sizes, beside a raw write of its rows.

What it does, per backend (SQLite, PostgreSQL) and per stored size (default 100k and 1M):

1. Fills a private database (``_common``: migrations, member ``bench``) up to the stored size
   with random PDQ hashes written by plain SQL as the API leaves them (a ``hashes``,
   ``contributions`` and ``changes`` row each), vacuums them on PostgreSQL (as autovacuum
   has long since done to rows stored over months), then starts ``hashshare serve`` on it
   and waits until every worker has loaded its index.
2. Submits batches of ``--batch`` (10,000) hashes, one after another, as the member that owns
   the seeded rows: ``new`` (values never stored), ``existing`` (seeded values resent with
   the same labels and quality: the daily re-sync), ``mixed`` (half of each). Each answer's
   counts are checked (created / existing).
3. The yardstick, in the same run and the same database: the same number of new rows written
   straight into ``hashes``, ``contributions`` and ``changes`` in one transaction with the
   fastest bulk path of the backend (``COPY`` on PostgreSQL, ``executemany`` on SQLite).
4. Single-query ``POST /v1/match`` latency from ``--match-connections`` keep-alive
   connections, first on an idle service, then while the batches of step 2 run again (the
   rows marked ``+match``: the rate a bulk load keeps while matches share the cores). The
   rates of step 2 are measured with nothing else running.

Then it grows the database to the next size and does it again. From the repository root::

    .venv/bin/python benchmarks/ingest_bench.py
    .venv/bin/python benchmarks/ingest_bench.py --stored 100k 1M 10M --backend postgres

Targets (issue: ingest at the scale of real hash sets): with 10 M hashes stored, 10,000-hash
batches at >= 25,000 hashes/s on PostgreSQL and >= 10,000 hashes/s on SQLite, resent sets no
slower than new ones.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy.engine import make_url

from _common import (
    HOST,
    KEYS,
    LABELS,
    MEMBER,
    QUALITY,
    U8,
    Database,
    Service,
    migrate_database,
    parse_count,
    postgres_append,
    print_machine,
    report_service_log,
    running_service,
    scratch_database,
    seed_database,
    service_exit_message,
    sqlite_append,
)
from hashshare.auth.tokens import issue_token
from hashshare.config import Settings
from hashshare.db import pg_connect

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
TARGETS = {"postgres": 25_000, "sqlite": 10_000}
KINDS = ("new", "existing", "mixed")
LOADED = "+match"  # a row measured while the match load ran


@dataclass
class Options:
    backends: list[str]
    stored: list[int]
    batch: int
    rounds: int
    workers: int
    match_connections: int
    postgres_url: str
    seed: int
    ready_timeout: float


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--stored", nargs="+", type=parse_count, default=[100_000, 1_000_000])
    parser.add_argument("--batch", type=parse_count, default=10_000, help="hashes per request")
    parser.add_argument("--rounds", type=int, default=3, help="batches of each kind per size")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--match-connections", type=int, default=4)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ready-timeout", type=float, default=1800.0)
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    return Options(
        backends=backends,
        stored=sorted(args.stored),
        batch=args.batch,
        rounds=args.rounds,
        workers=args.workers,
        match_connections=args.match_connections,
        postgres_url=args.postgres_url,
        seed=args.seed,
        ready_timeout=args.ready_timeout,
    )


# --------------------------------------------------------------------------- values


class Values:
    """Random PDQ values: what is stored, and fresh ones never stored."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.stored: list[U8] = []

    def fresh(self, count: int) -> U8:
        # Real PDQ hashes have 128 bits set; uniform random ones are within the accepted
        # band (97-159) but for about one in 10,000, which would refuse a whole batch.
        out = self.rng.integers(0, 256, size=(count, 32), dtype=np.uint8)
        while True:
            weights = np.unpackbits(out, axis=1).sum(axis=1)
            bad = np.flatnonzero((weights < 100) | (weights > 156))
            if not len(bad):
                return out
            out[bad] = self.rng.integers(0, 256, size=(len(bad), 32), dtype=np.uint8)

    def grow(self, count: int) -> U8:
        values = self.fresh(count)
        self.stored.append(values)
        return values

    def sample_stored(self, count: int) -> U8:
        everything = np.concatenate(self.stored) if len(self.stored) > 1 else self.stored[0]
        self.stored = [everything]
        picks = self.rng.choice(len(everything), size=count, replace=False)
        return everything[picks]


def submit_body(values: U8) -> bytes:
    items = [
        {"signal_type": "pdq", "value": row.tobytes().hex(), "labels": LABELS, "quality": QUALITY}
        for row in values
    ]
    return json.dumps({"hashes": items}).encode()


# --------------------------------------------------------------------------- HTTP


class Connection:
    """One keep-alive HTTP/1.1 connection to the service."""

    def __init__(self, port: int, token: str, timeout: float = 600.0) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        self.conn.request("POST", path, body=body, headers=self.headers)
        response = self.conn.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.conn.close()


@dataclass
class MatchLoad:
    """Single-query matches, one thread per connection, until stopped."""

    port: int
    token: str
    connections: int
    bodies: list[bytes]
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _run(self, offset: int) -> None:
        conn = Connection(self.port, self.token, timeout=60)
        i = offset
        try:
            while not self._stop.is_set():
                body = self.bodies[i % len(self.bodies)]
                i += self.connections
                started = time.perf_counter()
                status, _ = conn.post("/v1/match", body)
                elapsed = time.perf_counter() - started
                with self._lock:
                    self.latencies.append(elapsed)
                    if status != 200:
                        self.errors += 1
                # A pipeline's upload rate, not a closed loop at full speed: the matches
                # should observe the ingest, not compete with it for the two cores.
                time.sleep(0.005)
        finally:
            conn.close()

    def start(self) -> None:
        for offset in range(self.connections):
            thread = threading.Thread(target=self._run, args=(offset,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)

    def percentiles(self) -> tuple[int, float, float]:
        ordered = sorted(self.latencies)
        if not ordered:
            return 0, float("nan"), float("nan")
        p50 = ordered[len(ordered) // 2]
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return len(ordered), p50 * 1000, p99 * 1000


def match_bodies(values: Values, count: int) -> list[bytes]:
    stored = values.sample_stored(count)
    return [
        json.dumps({"queries": [{"signal_type": "pdq", "value": row.tobytes().hex()}]}).encode()
        for row in stored
    ]


# --------------------------------------------------------------------------- yardstick


def _sqlite_write(database: Database, rows: U8) -> float:
    import sqlite3

    path = make_url(database.url).database
    assert path
    conn = sqlite3.connect(path, timeout=60)
    try:
        started = time.perf_counter()
        with conn:
            sqlite_append(conn, database.schema, rows)
        return time.perf_counter() - started
    finally:
        conn.close()


async def _postgres_write(database: Database, rows: U8) -> float:
    conn = await pg_connect(database.url)
    try:
        started = time.perf_counter()
        async with conn.transaction():
            # Ids from the tables' own sequences, as the service's inserts take them.
            first = {}
            for table, key in KEYS.items():
                ids = await conn.fetch(
                    f"SELECT nextval(pg_get_serial_sequence('{table}', '{key}')) AS id"  # noqa: S608
                    " FROM generate_series(1, $1)",
                    len(rows),
                )
                first[table] = int(ids[0]["id"])
            await postgres_append(conn, database.schema, rows, first)
        return time.perf_counter() - started
    finally:
        await conn.close()


async def _vacuum(database: Database) -> float:
    conn = await pg_connect(database.url)
    try:
        started = time.perf_counter()
        for table in KEYS:
            await conn.execute(f"VACUUM (ANALYZE) {table}")
        await conn.execute("CHECKPOINT")
        return time.perf_counter() - started
    finally:
        await conn.close()


def vacuum(database: Database) -> float:
    """Vacuum what seeding wrote, as autovacuum long since has for rows stored over months.

    Rows just copied in have no hint bits and no visibility map: without this, the first
    reads at 10 M set hint bits page after page, and autovacuum's pass over millions of
    newly inserted rows (started by the inserts) runs during the measurement.
    """
    return asyncio.run(_vacuum(database))


def raw_write(database: Database, rows: U8) -> float:
    if database.pg_name is None:
        return _sqlite_write(database, rows)
    return asyncio.run(_postgres_write(database, rows))


# --------------------------------------------------------------------------- one size


@dataclass
class Row:
    backend: str
    stored: int
    what: str
    seconds: list[float]
    batch: int

    @property
    def rate(self) -> float:
        return self.batch / statistics.median(self.seconds)


def expected_counts(kind: str, batch: int) -> tuple[int, int]:
    """(created, existing) a batch of this kind must report."""
    return {"new": (batch, 0), "existing": (0, batch), "mixed": (batch // 2, batch - batch // 2)}[
        kind
    ]


def batch_values(kind: str, values: Values, batch: int) -> U8:
    if kind == "new":
        return values.grow(batch)
    if kind == "existing":
        return values.sample_stored(batch)
    half = batch // 2
    return np.concatenate([values.grow(half), values.sample_stored(batch - half)])


def submit_batches(conn: Connection, kind: str, values: Values, options: Options) -> list[float]:
    """Seconds per batch of `options.rounds` batches of one kind; each answer is checked."""
    seconds = []
    for _ in range(options.rounds):
        body = submit_body(batch_values(kind, values, options.batch))
        started = time.perf_counter()
        status, answer = conn.post("/v1/hashes", body)
        seconds.append(time.perf_counter() - started)
        if status != 200:
            raise RuntimeError(f"{kind} batch answered {status}: {answer[:500]!r}")
        result = json.loads(answer)
        got = (result["created"], result["existing"])
        if got != expected_counts(kind, options.batch):
            raise RuntimeError(f"{kind} batch reported {got}")
    return seconds


def measure_size(
    backend: str,
    database: Database,
    service: Service,
    options: Options,
    values: Values,
    stored: int,
) -> tuple[list[Row], list[str]]:
    settings = Settings(dev_mode=True, database_url=database.url)
    submit_token = issue_token(
        settings, member=MEMBER, scopes=["hashes:submit"], sub="ingest", ttl_seconds=7200
    )
    match_token = issue_token(
        settings, member=MEMBER, scopes=["hashes:match"], sub="pipeline", ttl_seconds=7200
    )
    bodies = match_bodies(values, 200)
    lines = []

    idle = MatchLoad(service.port, match_token, options.match_connections, bodies)
    idle.start()
    time.sleep(5)
    idle.stop()

    # The rates first, with nothing else running; then the same batches again under the
    # match load, for the latency of matches during ingest (and the rate it leaves).
    conn = Connection(service.port, submit_token)
    busy = MatchLoad(service.port, match_token, options.match_connections, bodies)
    rows: list[Row] = []
    try:
        for kind in KINDS:
            seconds = submit_batches(conn, kind, values, options)
            rows.append(Row(backend, stored, f"API {kind}", seconds, options.batch))
        busy.start()
        for kind in KINDS:
            seconds = submit_batches(conn, kind, values, options)
            rows.append(Row(backend, stored, f"API {kind} {LOADED}", seconds, options.batch))
    finally:
        conn.close()
        busy.stop()

    raw = [raw_write(database, values.grow(options.batch)) for _ in range(options.rounds)]
    yard = "COPY" if backend == "postgres" else "executemany"
    rows.append(Row(backend, stored, f"raw {yard}", raw, options.batch))

    for name, load in (("idle", idle), ("during ingest", busy)):
        n, p50, p99 = load.percentiles()
        lines.append(
            f"  match x1 {name:<14} p50 {p50:7.2f} ms  p99 {p99:8.2f} ms  "
            f"({n} requests, {load.errors} errors, {options.match_connections} connections)"
        )
    return rows, lines


# --------------------------------------------------------------------------- main


def run_backend(backend: str, options: Options, workdir: Path) -> tuple[list[Row], list[str]]:
    url = options.postgres_url if backend == "postgres" else None
    (workdir / backend).mkdir(parents=True, exist_ok=True)
    values = Values(options.seed)
    rows: list[Row] = []
    notes: list[str] = []
    with scratch_database(url, workdir / backend, prefix="hashshare_ingest") as database:
        migrate_database(database)
        have = 0
        for stored in options.stored:
            # What the API stored at the previous size counts towards this one.
            grow = stored - have
            seconds = seed_database(database, values.grow(grow)) if grow > 0 else 0.0
            have = sum(len(chunk) for chunk in values.stored)
            print(f"{backend:<9} {have:,} hashes stored ({grow:,} seeded in {seconds:.0f} s)")
            if database.pg_name is not None and grow > 0:
                vacuumed = vacuum(database)
                print(f"{backend:<9} seeded tables vacuumed in {vacuumed:.0f} s")
            sys.stdout.flush()
            with running_service(
                database, workdir / backend, options.workers, have, options.ready_timeout
            ) as service:
                size_rows, lines = measure_size(backend, database, service, options, values, have)
                rows.extend(size_rows)
                notes.append(f"{backend} at {have:,} stored:")
                notes.extend(lines)
                report_service_log(service)
                if service.process.poll() is not None:
                    raise RuntimeError(service_exit_message(service))
            have = sum(len(chunk) for chunk in values.stored)
            print_rows([row for row in rows if row.stored == size_rows[0].stored])
    return rows, notes


def print_rows(rows: list[Row]) -> None:
    header = f"{'backend':<9} {'stored':>11} {'path':<25} {'batch':>6} {'median s':>9} "
    header += f"{'hashes/s':>9} {'min s':>7} {'max s':>7} {'vs raw':>7}"
    print(header)
    raw = {(row.backend, row.stored): row.rate for row in rows if row.what.startswith("raw")}
    for row in rows:
        yardstick = raw.get((row.backend, row.stored))
        ratio = row.rate / yardstick if yardstick else float("nan")
        print(
            f"{row.backend:<9} {row.stored:>11,} {row.what:<25} {row.batch:>6,} "
            f"{statistics.median(row.seconds):9.3f} {row.rate:9,.0f} {min(row.seconds):7.3f} "
            f"{max(row.seconds):7.3f} {ratio:6.2f}x"
        )
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    print_machine()
    print(
        f"setup     batches of {options.batch:,}, {options.rounds} per kind, "
        f"{options.workers} worker(s), stored sizes {', '.join(f'{n:,}' for n in options.stored)}"
    )
    workdir = Path(tempfile.mkdtemp(prefix="hashshare-ingest-bench-"))
    rows: list[Row] = []
    notes: list[str] = []
    try:
        for backend in options.backends:
            backend_rows, backend_notes = run_backend(backend, options, workdir)
            rows.extend(backend_rows)
            notes.extend(backend_notes)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print_rows(rows)
    for line in notes:
        print(line)
    largest = max(options.stored)
    for backend in options.backends:
        target = TARGETS[backend]
        api = [
            r
            for r in rows
            if r.backend == backend and r.what.startswith("API") and LOADED not in r.what
        ]
        at_largest = [r for r in api if r.stored == max(x.stored for x in api)]
        slowest = min(at_largest, key=lambda r: r.rate)
        verdict = "met" if slowest.rate >= target and largest >= 10_000_000 else "not met"
        if slowest.rate >= target and largest < 10_000_000:
            verdict = "rate met (target is stated at 10 M stored)"
        print(
            f"target    {backend}: >= {target:,} hashes/s at {largest:,} stored, slowest kind "
            f"{slowest.what} {slowest.rate:,.0f}/s -> {verdict}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
