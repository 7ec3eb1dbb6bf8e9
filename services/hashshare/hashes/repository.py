"""All SQL of hashes and contributions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from hashshare.hashes.models import Contribution, Hash, HashStatus

CHUNK = 500
T = TypeVar("T")


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class HashRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _insert(self) -> Any:
        dialect = self.session.get_bind().dialect.name
        return (pg_insert if dialect == "postgresql" else sqlite_insert)(Hash)

    async def get(self, hash_id: int) -> Hash | None:
        return await self.session.get(Hash, hash_id)

    async def get_many(self, hash_ids: Sequence[int]) -> dict[int, Hash]:
        found: dict[int, Hash] = {}
        for chunk in _chunks(sorted(set(hash_ids))):
            for row in await self.session.scalars(select(Hash).where(Hash.id.in_(chunk))):
                found[row.id] = row
        return found

    async def ensure_hashes(
        self, keys: Sequence[tuple[str, bytes]], now: datetime
    ) -> dict[tuple[str, bytes], Hash]:
        """Return the hash row of every key, inserting the missing ones.

        `ON CONFLICT DO NOTHING` lets two members submit the same new value concurrently.
        New rows start with no contributors; the caller adds contributions and refreshes.
        """
        by_type: dict[str, list[bytes]] = {}
        for signal_type, value in keys:
            by_type.setdefault(signal_type, []).append(value)
        for signal_type, values in by_type.items():
            for chunk in _chunks(values):
                rows = [
                    {
                        "signal_type": signal_type,
                        "value": value,
                        "status": HashStatus.ACTIVE.value,
                        "labels": [],
                        "contributors": 0,
                        "first_contributed_at": now,
                        "last_contributed_at": now,
                        "updated_at": now,
                    }
                    for value in chunk
                ]
                await self.session.execute(
                    self._insert()
                    .values(rows)
                    .on_conflict_do_nothing(index_elements=["signal_type", "value"])
                )
        found: dict[tuple[str, bytes], Hash] = {}
        for signal_type, values in by_type.items():
            for chunk in _chunks(values):
                query = select(Hash).where(Hash.signal_type == signal_type, Hash.value.in_(chunk))
                for row in await self.session.scalars(query):
                    found[(row.signal_type, row.value)] = row
        return found

    async def contributions_of(
        self, member_id: str, hash_ids: Sequence[int]
    ) -> dict[int, Contribution]:
        found: dict[int, Contribution] = {}
        for chunk in _chunks(sorted(set(hash_ids))):
            query = select(Contribution).where(
                Contribution.member_id == member_id, Contribution.hash_id.in_(chunk)
            )
            for row in await self.session.scalars(query):
                found[row.hash_id] = row
        return found

    async def contributions_to(self, hash_id: int) -> Sequence[Contribution]:
        query = (
            select(Contribution).where(Contribution.hash_id == hash_id).order_by(Contribution.id)
        )
        return (await self.session.scalars(query)).all()

    async def active_contributions_to(
        self, hash_ids: Sequence[int]
    ) -> dict[int, list[Contribution]]:
        found: dict[int, list[Contribution]] = {hash_id: [] for hash_id in hash_ids}
        for chunk in _chunks(sorted(set(hash_ids))):
            query = select(Contribution).where(
                Contribution.hash_id.in_(chunk), Contribution.retracted_at.is_(None)
            )
            for row in await self.session.scalars(query):
                found[row.hash_id].append(row)
        return found

    def add_contribution(self, contribution: Contribution) -> None:
        self.session.add(contribution)

    async def flush(self) -> None:
        await self.session.flush()
