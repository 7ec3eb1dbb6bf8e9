"""Start-up load: how long a process takes from an empty index to ready, N hashes in PostgreSQL.

    .venv/bin/python benchmarks/load_bench.py --n 10000000

Creates a scratch database on the local PostgreSQL server, fills `hashes` with N random PDQ
hashes by COPY, then times `matching.loader.load_indexes` (stream from the database and build the
index). Baseline in the same run: fetching the same rows with a bare asyncpg cursor and
nothing else, the floor any loader pays. Drops the scratch database at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import time
from datetime import UTC, datetime

import asyncpg
import numpy as np

from _common import COLUMNS, cpu_model, parse_count
from hashshare.changes.service import ChangeService
from hashshare.config import Settings
from hashshare.db import Database
from hashshare.hashes.service import HashService
from hashshare.matching.holder import IndexHolder
from hashshare.matching.loader import load_indexes
from hashshare.migrations import upgrade

ADMIN_URL = os.environ.get("HASHSHARE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


async def _fill(dsn: str, n: int) -> float:
    started = time.perf_counter()
    now = datetime.now(UTC)
    conn = await asyncpg.connect(dsn)
    try:
        rng = np.random.default_rng(1)
        chunk = 500_000
        for start in range(0, n, chunk):
            count = min(chunk, n - start)
            values = rng.integers(0, 256, size=(count, 32), dtype=np.uint8)
            records = [
                ("pdq", values[i].tobytes(), "active", '["attacker-manifesto"]', 1, now, now, now)
                for i in range(count)
            ]
            await conn.copy_records_to_table(
                "hashes",
                records=records,
                columns=COLUMNS["hashes"][1:],
            )
        await conn.execute("ANALYZE hashes")
    finally:
        await conn.close()
    return time.perf_counter() - started


async def _bare_fetch(dsn: str) -> tuple[float, int]:
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
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


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="1M", help="hashes to load, e.g. 1M or 10M")
    args = parser.parse_args()
    n = parse_count(args.n)
    name = f"hashshare_load_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        await asyncio.to_thread(upgrade, url)
        fill_seconds = await _fill(dsn, n)
        bare_seconds, rows = await _bare_fetch(dsn)
        load_seconds, size, memory = await _load(url)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    print(
        f"# load benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{cpu_model()}, {os.cpu_count()} cores"
    )
    print(f"N = {n:,} PDQ hashes in PostgreSQL (filled by COPY in {fill_seconds:.1f} s)")
    print(f"{'step':<44} {'seconds':>8} {'rows':>12}")
    print(f"{'baseline: bare asyncpg cursor fetch':<44} {bare_seconds:8.1f} {rows:12,}")
    print(f"{'load_indexes (stream + build, ready)':<44} {load_seconds:8.1f} {size:12,}")
    print(f"load / bare fetch = {load_seconds / bare_seconds:.2f}x")
    print(f"index memory: {memory / size:.1f} B/hash" if size else "index empty")
    print(f"target: ready in <= 60 s at 10M -> {'met' if load_seconds <= 60 else 'NOT met'}")


if __name__ == "__main__":
    asyncio.run(main())
