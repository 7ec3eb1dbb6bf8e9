"""A test run killed before its teardown leaves its PostgreSQL database behind; the next
run drops it, and never the database of a run still going."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from hashshare.db import pg_connect
from tests.conftest import PG_URL, _drop_abandoned_databases, _pg_admin

pytestmark = pytest.mark.postgres


async def _databases() -> set[str]:
    conn = await pg_connect(PG_URL)
    try:
        rows = await conn.fetch("SELECT datname FROM pg_database")
    finally:
        await conn.close()
    return {row[0] for row in rows}


def test_the_database_of_a_killed_run_is_dropped_and_a_live_ones_kept(postgres_url: str) -> None:
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(finished.stdout)
    abandoned = f"hashshare_test_p{dead_pid}_deadbeef"
    alive = f"hashshare_test_p{os.getpid()}_cafebabe"
    for name in (abandoned, alive):
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        asyncio.run(_drop_abandoned_databases())
        names = asyncio.run(_databases())
        assert abandoned not in names
        assert alive in names
    finally:
        for name in (abandoned, alive):
            asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
