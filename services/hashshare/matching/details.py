"""Where a match reads what it reports of each hit (value, labels, status, contributors).

The central service reads the hashes table (`DatabaseHitDetails`); a member's edge answers
from its own copy of the shared set. The match service takes either through `HitDetails`,
so there is one match path, whatever holds the shared set.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from hashshare.db import Database
from hashshare.hashes.service import HashService
from hashshare.matching.hits import HitRow
from hashshare.signals import REGISTRY


class HitDetails(Protocol):
    async def rows(self, hash_ids: Sequence[int]) -> dict[int, HitRow]:
        """What to report of each of `hash_ids` that is known (absent ids are left out)."""


class DatabaseHitDetails:
    """The hits' rows, read from the database in one query."""

    def __init__(self, database: Database, hashes: HashService) -> None:
        self._database = database
        self._hashes = hashes

    async def rows(self, hash_ids: Sequence[int]) -> dict[int, HitRow]:
        async with self._database.unit() as uow:
            rows = await self._hashes.match_rows(uow, hash_ids)
        return {
            hash_id: HitRow(
                signal_type=row.signal_type,
                value=REGISTRY[row.signal_type].format(row.value),
                status=row.status,
                labels=tuple(row.labels),
                contributors=row.contributors,
            )
            for hash_id, row in rows.items()
        }
