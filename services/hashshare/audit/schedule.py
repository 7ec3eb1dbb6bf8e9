"""Signed checkpoints on a schedule (`CHECKPOINT_INTERVAL_MINUTES`).

Every replica runs the schedule; under the audit head's lock each checks when the last
scheduled checkpoint was issued, so whichever is due first publishes and the others wait out
the rest of the interval. Before any was ever published, the first is due one interval after
the process started. A database that cannot be reached delays the checkpoint, it does not
stop the schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from hashshare.audit.service import AuditService
from hashshare.db import utcnow

log = logging.getLogger(__name__)

RETRY_SECONDS = 5.0


class CheckpointSchedule:
    def __init__(self, audit_log: AuditService, interval: timedelta) -> None:
        self._audit_log = audit_log
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="hashshare-checkpoint-schedule")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        first_due = utcnow() + self._interval
        while True:
            try:
                due = await self._audit_log.publish_if_due(self._interval, first_due)
                wait = due.total_seconds()
            except Exception:
                log.warning("scheduled audit checkpoint failed; retrying", exc_info=True)
                wait = min(RETRY_SECONDS, self._interval.total_seconds())
            await asyncio.sleep(wait)
