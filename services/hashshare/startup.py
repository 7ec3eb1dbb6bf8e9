"""Start-up jitter: replicas that start together do not all read the whole set at once.

A rollout, a node drain or a scale-up starts many replicas within seconds, and each streams
every matchable hash from PostgreSQL into its index (HMA's operators saw every matcher reload
together and take the database down). Each process waits a random time, up to
HASHSHARE_STARTUP_JITTER_SECONDS, before it loads: N replicas then spread over that window.
"""

from __future__ import annotations

import asyncio
import logging
import random

logger = logging.getLogger("hashshare.startup")


async def wait_startup_jitter(max_seconds: float, rng: random.Random | None = None) -> float:
    """Sleep a uniformly random time in [0, max_seconds]; return how long."""
    if max_seconds <= 0:
        return 0.0
    delay = (rng or random.SystemRandom()).uniform(0, max_seconds)
    logger.info("waiting %.2f s (start-up jitter) before loading the match index", delay)
    await asyncio.sleep(delay)
    return delay
