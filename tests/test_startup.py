"""Start-up jitter: replicas started together spread their index loads over a window."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable

import pytest

from hashshare import startup
from hashshare.config import Settings
from tests.conftest import Api


async def test_no_jitter_by_default_and_no_wait() -> None:
    assert Settings(dev_mode=True).startup_jitter_seconds == 0
    started = time.monotonic()
    assert await startup.wait_startup_jitter(0) == 0
    assert time.monotonic() - started < 0.05


async def test_replicas_started_together_spread_over_the_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(startup.asyncio, "sleep", record)
    rng = random.Random(13)
    delays = [await startup.wait_startup_jitter(20, rng) for _ in range(50)]
    assert delays == slept
    assert all(0 <= delay <= 20 for delay in delays)
    # Fifty replicas: no five-second slice of the twenty holds more than 40 % of them (a
    # quarter on average), where without jitter all fifty would load at once.
    assert max(sum(t <= d < t + 5 for d in delays) for t in range(16)) <= 20


async def test_the_app_waits_its_jitter_before_loading_the_index(
    sqlite_url: str,
    api_factory: Callable[[Settings], Awaitable[Api]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="hashshare.startup")
    settings = Settings(dev_mode=True, database_url=sqlite_url, startup_jitter_seconds=0.4)
    started = time.monotonic()
    api = await api_factory(settings)
    elapsed = time.monotonic() - started
    (message,) = [r.getMessage() for r in caplog.records if r.name == "hashshare.startup"]
    delay = float(message.split()[1])
    assert 0 <= delay <= 0.4
    assert elapsed >= delay - 0.01  # the rounding of the message
    assert (await api.client.get("/readyz")).status_code == 200
