"""Audit chain: sustained append rate (events/s) on PostgreSQL with 1, 2 and 4 writer processes.

    .venv/bin/python benchmarks/audit_bench.py [--seconds 10] [--writers 1 2 4]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]

Every event is chained to the one before it (`digest = SHA-256(previous ‖ event)`), so all
writers of one database serialise on the chain's head row: this measures where that bounds
the service, i.e. how many replicas one PostgreSQL primary carries. Two ways of appending,
as the service does:

- `action`: one event per transaction through `audit.service.record()`, the way a submission,
  a retraction or feedback records itself (its own commit each time);
- `group`: 64 concurrent callers per process through the `AuditWriter`, the way matches are
  recorded (group commit: whatever has queued goes in one transaction).

Baseline in the same run, same processes and connections: the same single-row transactions
into a plain table with no chain (`plain`), i.e. what the database's commit path alone allows.
Each writer count runs in a fresh private database; the chain is verified after each run.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import time
from typing import Any

from _common import create_database, drop_database, print_machine
from hashshare.audit.service import Actor, record, verify_log
from hashshare.audit.writer import AuditWriter
from hashshare.db import create_engine, create_session_factory
from hashshare.migrations import upgrade

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
GROUP_CALLERS = 64
ACTOR = Actor(sub="bench", member_id=None, request_id=None)
DETAILS = {"signal_type": "pdq", "queries": 1, "hits": 0}


async def _action_loop(url: str, seconds: float) -> int:
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    count = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            async with sessions() as session, session.begin():
                await record(session, ACTOR, "match", details=DETAILS)
            count += 1
    finally:
        await engine.dispose()
    return count


async def _group_loop(url: str, seconds: float) -> int:
    engine = create_engine(url)
    writer = AuditWriter(engine)
    await writer.start()
    deadline = time.monotonic() + seconds
    counts = [0] * GROUP_CALLERS

    async def caller(i: int) -> None:
        while time.monotonic() < deadline:
            await writer.record(ACTOR, "match", details=DETAILS)
            counts[i] += 1

    try:
        await asyncio.gather(*(caller(i) for i in range(GROUP_CALLERS)))
    finally:
        await writer.stop()
        await engine.dispose()
    return sum(counts)


async def _plain_loop(url: str, seconds: float) -> int:
    from sqlalchemy import text

    engine = create_engine(url)
    count = 0
    deadline = time.monotonic() + seconds
    try:
        async with engine.connect() as connection:
            while time.monotonic() < deadline:
                await connection.execute(
                    text("INSERT INTO bench_plain (payload) VALUES (:payload)"),
                    {"payload": str(DETAILS)},
                )
                await connection.commit()
                count += 1
    finally:
        await engine.dispose()
    return count


LOOPS = {"action": _action_loop, "group": _group_loop, "plain": _plain_loop}


def _worker(mode: str, url: str, seconds: float, start: Any, results: Any) -> None:
    start.wait()
    results.put(asyncio.run(LOOPS[mode](url, seconds)))


def run(mode: str, url: str, writers: int, seconds: float) -> float:
    """events/s of `writers` processes appending for `seconds`."""
    context = mp.get_context("spawn")
    start = context.Event()
    results = context.Queue()
    processes = [
        context.Process(target=_worker, args=(mode, url, seconds, start, results))
        for _ in range(writers)
    ]
    for process in processes:
        process.start()
    time.sleep(2.0)  # let every process import and connect before the clock starts
    start.set()
    total = sum(results.get(timeout=seconds + 120) for _ in processes)
    for process in processes:
        process.join(timeout=30)
    return total / seconds


async def _prepare_plain(url: str) -> None:
    from sqlalchemy import text

    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("CREATE TABLE bench_plain (id bigserial PRIMARY KEY, payload text)")
            )
    finally:
        await engine.dispose()


async def _verify(url: str) -> tuple[bool, int]:
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as session:
            verdict = await verify_log(session)
    finally:
        await engine.dispose()
    return verdict.ok, verdict.events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_PG)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    print_machine()
    print(f"each run {args.seconds:.0f} s; group mode: {GROUP_CALLERS} callers per process\n")
    print("| writers | plain txn/s | action events/s | ÷ plain | group events/s | ÷ plain |")
    print("|---|---|---|---|---|---|")
    from pathlib import Path

    for writers in args.writers:
        database = create_database(args.database_url, Path("."), prefix="hashshare_auditbench")
        try:
            upgrade(database.url)
            asyncio.run(_prepare_plain(database.url))
            plain = run("plain", database.url, writers, args.seconds)
            action = run("action", database.url, writers, args.seconds)
            group = run("group", database.url, writers, args.seconds)
            ok, events = asyncio.run(_verify(database.url))
        finally:
            drop_database(database)
        print(
            f"| {writers} | {plain:,.0f} | {action:,.0f} | {action / plain:.2f} | "
            f"{group:,.0f} | {group / plain:.2f} |",
            flush=True,
        )
        if not ok:
            raise SystemExit(f"the chain did not verify after {events} events")
    print("\nthe chain verified after every run")


if __name__ == "__main__":
    main()
