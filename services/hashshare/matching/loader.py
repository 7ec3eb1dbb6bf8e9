"""Start-up: fill an `IndexHolder` from the database.

Note the head of the change feed first, then stream every matchable hash (active or
disputed) in id order, page by page, and build each index in one go on a worker thread.
Anything committed during the load is replayed by the follower from the noted head.
"""

from __future__ import annotations

import asyncio
import logging
import time

from hashshare.changes.service import ChangeService
from hashshare.db import Database
from hashshare.hashes.service import HashService
from hashshare.matching.holder import IndexHolder
from hashshare.matching.index import MatchIndex, build_index
from hashshare.signals import REGISTRY

log = logging.getLogger(__name__)


async def load_indexes(
    holder: IndexHolder,
    database: Database,
    hashes: HashService,
    changes: ChangeService,
    chunk: int,
) -> int:
    """Load every matchable hash into `holder`; return the feed's head as of the load."""
    started = time.perf_counter()
    found: dict[str, tuple[list[int], bytearray]] = {name: ([], bytearray()) for name in REGISTRY}
    async with database.unit() as uow:
        head = await changes.head(uow)
        async for signal_type, page_ids, page_values in hashes.matchable(uow, chunk):
            if signal_type in found:
                ids, values = found[signal_type]
                ids.extend(page_ids)
                values.extend(page_values)
    indexes: dict[str, MatchIndex] = {}
    for name, (ids, values) in found.items():
        indexes[name] = await asyncio.to_thread(build_index, REGISTRY[name], ids, values)
    holder.install(indexes, time.perf_counter() - started)
    log.info(
        "match index loaded: %d hashes in %.2f s; kernels: %s",
        sum(holder.sizes().values()),
        holder.load_seconds,
        ", ".join(f"{name} {kernel}" for name, kernel in holder.kernels().items()),
    )
    return head
