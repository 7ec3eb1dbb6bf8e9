"""Real `hashshare serve` processes for tests that need a service over HTTP."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_service(database_url: str, extra_env: Mapping[str, str] | None = None) -> Iterator[str]:
    """Start `hashshare serve` in a subprocess; yield its base URL once /readyz says ready."""
    port = free_port()
    env = {
        **os.environ,
        "HASHSHARE_DEV_MODE": "1",
        "HASHSHARE_DATABASE_URL": database_url,
        "HASHSHARE_MEMBER_CACHE_SECONDS": "0",
        **(extra_env or {}),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "hashshare", "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "the service process exited during start-up"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "the service did not become ready in 60 s"
            time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
