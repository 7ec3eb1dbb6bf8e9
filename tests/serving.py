"""Real processes on loopback for the multi-process tests: `hashshare serve` and
`hashshare edge` as subprocesses, each yielded once it answers its readiness probe."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from hashshare.auth.principal import Actor
from hashshare.db import Database
from hashshare.members.service import MemberService


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def add_members(database_url: str, actor: str, *member_ids: str) -> None:
    """Add members (named after their ids) to a migrated database, as `actor`."""
    database = Database(database_url)
    members = MemberService()
    try:
        async with database.unit() as uow:
            for member in member_ids:
                await members.add(uow, Actor(actor, None, None), member, member.title())
    finally:
        await database.dispose()


def database_rows(database_url: str, statement: str) -> list[Any]:
    """The rows of `statement` on the database the processes share, read from outside them."""

    async def read() -> list[Any]:
        database = Database(database_url)
        try:
            async with database.sessions() as session:
                return list((await session.execute(text(statement))).all())
        finally:
            await database.dispose()

    return asyncio.run(read())


def seconds_until(condition: Callable[[], bool], limit: float = 10.0) -> float:
    """Poll `condition` every 20 ms; fail the test if it is not met within `limit` seconds."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < limit, f"condition not met within {limit} s"
        time.sleep(0.02)
    return time.monotonic() - started


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    base_url: str

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs (what a crash or an OOM kill does)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def running(
    arguments: list[str], env: dict[str, str], port: int, ready: Callable[[str], bool] | None = None
) -> Iterator[Running]:
    """Start `python -m hashshare ARGUMENTS`; yield once `ready(base_url)` holds (by default:
    /readyz answers 200)."""
    process = subprocess.Popen([sys.executable, "-m", "hashshare", *arguments], env=env)
    base_url = f"http://127.0.0.1:{port}"

    def is_ready(url: str) -> bool:
        with contextlib.suppress(httpx.TransportError):
            return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
        return False

    check = ready or is_ready
    try:
        deadline = time.monotonic() + 60
        while not check(base_url):
            assert process.poll() is None, f"hashshare {arguments[0]} exited during start-up"
            assert time.monotonic() < deadline, f"hashshare {arguments[0]} not ready in 60 s"
            time.sleep(0.05)
        yield Running(process, base_url)
    finally:
        _stop(process)


@contextmanager
def running_service(database_url: str, extra_env: Mapping[str, str] | None = None) -> Iterator[str]:
    """`hashshare serve` on `database_url` (development mode); yield its base URL when ready."""
    port = free_port()
    env = {
        **os.environ,
        "HASHSHARE_DEV_MODE": "1",
        "HASHSHARE_DATABASE_URL": database_url,
        **(extra_env or {}),
    }
    arguments = ["serve", "--port", str(port), "--log-level", "warning"]
    with running(arguments, env, port) as service:
        yield service.base_url


def anything_answers(url: str) -> bool:
    """The edge answers /readyz at all (200 or 503): it is up, synced or not."""
    with contextlib.suppress(httpx.TransportError):
        return httpx.get(f"{url}/readyz", timeout=1).status_code in (200, 503)
    return False


@contextmanager
def running_edge(
    upstream: str,
    token_file: Path,
    data: Path,
    *options: str,
    ready: Callable[[str], bool] | None = None,
) -> Iterator[Running]:
    """`hashshare edge` following `upstream`; yielded once ready (or as `ready` says)."""
    port = free_port()
    arguments = [
        "edge",
        "--upstream",
        upstream,
        "--token-file",
        str(token_file),
        "--data",
        str(data),
        "--port",
        str(port),
        "--log-level",
        "warning",
        *options,
    ]
    with running(arguments, dict(os.environ), port, ready) as edge:
        yield edge
