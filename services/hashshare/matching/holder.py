"""Holds one match index per signal type and keeps it in step with the database.

At start-up `load` streams every matchable hash (active or disputed) from the database in
id order, chunk by chunk. Afterwards the writing request updates the index once its
transaction has committed (see `UnitOfWork.on_commit`).
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hashshare.hashes.models import MATCHABLE_STATUSES, Hash
from hashshare.matching.index import MatchIndex
from hashshare.signals import REGISTRY

log = logging.getLogger(__name__)


class IndexHolder:
    def __init__(self) -> None:
        self._indexes: dict[str, MatchIndex] = {
            name: st.new_index() for name, st in REGISTRY.items()
        }
        self.ready = False
        self.load_seconds: float | None = None

    def index(self, signal_type: str) -> MatchIndex:
        return self._indexes[signal_type]

    def sizes(self) -> dict[str, int]:
        return {name: len(index) for name, index in self._indexes.items()}

    def put(self, signal_type: str, hash_id: int, value: bytes) -> None:
        self._indexes[signal_type].add(hash_id, value)

    def discard(self, signal_type: str, hash_id: int) -> None:
        self._indexes[signal_type].remove(hash_id)

    def search(self, signal_type: str, value: bytes, max_distance: int) -> list[tuple[int, int]]:
        return self._indexes[signal_type].search(value, max_distance)

    async def load(self, session_factory: async_sessionmaker[AsyncSession], chunk: int) -> None:
        """Fill the indexes from the database; mark ready when done."""
        started = time.perf_counter()
        statuses = [status.value for status in MATCHABLE_STATUSES]
        last_id = 0
        loaded = 0
        async with session_factory() as session:
            while True:
                rows = (
                    await session.execute(
                        select(Hash.id, Hash.signal_type, Hash.value)
                        .where(Hash.status.in_(statuses), Hash.id > last_id)
                        .order_by(Hash.id)
                        .limit(chunk)
                    )
                ).all()
                if not rows:
                    break
                for hash_id, signal_type, value in rows:
                    if signal_type in self._indexes:
                        self._indexes[signal_type].add(hash_id, value)
                loaded += len(rows)
                last_id = rows[-1][0]
        self.load_seconds = time.perf_counter() - started
        self.ready = True
        log.info("match index loaded: %d hashes in %.2f s", loaded, self.load_seconds)
