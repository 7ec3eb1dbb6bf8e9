"""Start-up load: how long a process takes from an empty index to ready, N hashes in PostgreSQL.

    .venv/bin/python benchmarks/load_bench.py --n 10000000

Creates a scratch database on the local PostgreSQL server (``_common``: migrations, then N
random PDQ hashes written by COPY as the API leaves them), then times
`matching.loader.load_indexes` (stream from the database and build the index). Baseline in
the same run: fetching the same rows with a bare asyncpg cursor and nothing else, the floor
any loader pays. Drops the scratch database at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy.engine import make_url

from _common import (
    cpu_model,
    migrate_database,
    parse_count,
    scratch_database,
    seed_database,
)
from hashshare.changes.service import ChangeService
from hashshare.config import Settings
from hashshare.db import Database, pg_connect
from hashshare.hashes.service import HashService
from hashshare.matching.holder import IndexHolder
from hashshare.matching.loader import load_indexes

# The server the scratch database is created on (any database of it to connect to first).
ADMIN_URL = (
    make_url(
        os.environ.get("HASHSHARE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
    )
    .set(drivername="postgresql+asyncpg")
    .render_as_string(hide_password=False)
)


async def _bare_fetch(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    conn = await pg_connect(url)
    rows = 0
    try:
        async with conn.transaction():
            cursor = conn.cursor(
                "SELECT id, signal_type, value FROM hashes WHERE status IN ('active', 'disputed')",
                prefetch=50_000,
            )
            async for _ in cursor:
                rows += 1
    finally:
        await conn.close()
    return time.perf_counter() - started, rows


async def _load(url: str) -> tuple[float, int, int]:
    settings = Settings(dev_mode=True, database_url=url)
    database = Database(url)
    try:
        holder = IndexHolder()
        changes = ChangeService(holder)
        started = time.perf_counter()
        await load_indexes(holder, database, HashService(settings, changes), changes, 50_000)
        elapsed = time.perf_counter() - started
        index = holder.index("pdq")
        memory = index.memory_bytes() if hasattr(index, "memory_bytes") else 0
        return elapsed, len(index), memory
    finally:
        await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="1M", help="hashes to load, e.g. 1M or 10M")
    args = parser.parse_args()
    n = parse_count(args.n)
    values = np.random.default_rng(1).integers(0, 256, size=(n, 32), dtype=np.uint8)
    workdir = Path(tempfile.gettempdir())  # only a SQLite database would be kept there
    with scratch_database(ADMIN_URL, workdir, prefix="hashshare_load") as database:
        migrate_database(database)
        fill_seconds = seed_database(database, values)
        bare_seconds, rows = asyncio.run(_bare_fetch(database.url))
        load_seconds, size, memory = asyncio.run(_load(database.url))
    print(
        f"# load benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{cpu_model()}, {os.cpu_count()} cores"
    )
    print(
        f"N = {n:,} PDQ hashes in PostgreSQL (seeded by COPY with their contributions and "
        f"changes in {fill_seconds:.1f} s)"
    )
    print(f"{'step':<44} {'seconds':>8} {'rows':>12}")
    print(f"{'baseline: bare asyncpg cursor fetch':<44} {bare_seconds:8.1f} {rows:12,}")
    print(f"{'load_indexes (stream + build, ready)':<44} {load_seconds:8.1f} {size:12,}")
    print(f"load / bare fetch = {load_seconds / bare_seconds:.2f}x")
    print(f"index memory: {memory / size:.1f} B/hash" if size else "index empty")
    print(f"target: ready in <= 60 s at 10M -> {'met' if load_seconds <= 60 else 'NOT met'}")


if __name__ == "__main__":
    main()
