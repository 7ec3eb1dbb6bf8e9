"""All SQL of hashes and contributions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from hashshare.changes.repository import ChangeRepository
from hashshare.hashes.models import Contribution, Hash, HashStatus

CHUNK = 500
# Bulk writes go through Core tables: one compiled statement, many parameter sets.
HASHES: Table = Hash.__table__  # type: ignore[assignment]
CONTRIBUTIONS: Table = Contribution.__table__  # type: ignore[assignment]


@dataclass(slots=True)
class HashState:
    """The few columns of a hash that writes need, without an ORM object."""

    id: int
    signal_type: str
    value: bytes
    status: str
    contributors: int = 0


T = TypeVar("T")


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class HashRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _insert(self) -> Any:
        dialect = self.session.get_bind().dialect.name
        return (pg_insert if dialect == "postgresql" else sqlite_insert)(HASHES)

    async def get(self, hash_id: int) -> Hash | None:
        return await self.session.get(Hash, hash_id)

    async def match_rows(self, hash_ids: Sequence[int]) -> dict[int, Any]:
        """What a match reports of each hit, as plain rows (no ORM objects on the hot path)."""
        found: dict[int, Any] = {}
        columns = (
            Hash.id,
            Hash.signal_type,
            Hash.value,
            Hash.status,
            Hash.labels,
            Hash.contributors,
        )
        for chunk in _chunks(sorted(set(hash_ids))):
            for row in await self.session.execute(select(*columns).where(Hash.id.in_(chunk))):
                found[row.id] = row
        return found

    async def ensure_hashes(
        self, keys: Sequence[tuple[str, bytes]], now: datetime
    ) -> dict[tuple[str, bytes], HashState]:
        """Return (id, status) of every key, inserting the missing ones.

        `ON CONFLICT DO NOTHING` lets two members submit the same new value concurrently.
        New rows start with no contributors; the caller adds contributions and refreshes.
        """
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
            for signal_type, value in keys
        ]
        statement = self._insert().on_conflict_do_nothing(index_elements=["signal_type", "value"])
        for chunk in _chunks(rows, 2000):
            await self.session.execute(statement, list(chunk))
        by_type: dict[str, list[bytes]] = {}
        for signal_type, value in keys:
            by_type.setdefault(signal_type, []).append(value)
        found: dict[tuple[str, bytes], HashState] = {}
        for signal_type, values in by_type.items():
            for value_chunk in _chunks(values):
                query = select(Hash.id, Hash.value, Hash.status).where(
                    Hash.signal_type == signal_type, Hash.value.in_(value_chunk)
                )
                for hash_id, value, status in await self.session.execute(query):
                    found[(signal_type, value)] = HashState(hash_id, signal_type, value, status)
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

    async def insert_contributions(self, rows: list[dict[str, Any]]) -> None:
        for chunk in _chunks(rows, 2000):
            await self.session.execute(insert(CONTRIBUTIONS), list(chunk))

    async def update_contributions(self, rows: list[dict[str, Any]]) -> None:
        """Rows carry `b_id` (the contribution id) and the new column values."""
        statement = (
            update(CONTRIBUTIONS)
            .where(CONTRIBUTIONS.c.id == bindparam("b_id"))
            .values(
                labels=bindparam("labels"),
                external_ref=bindparam("external_ref"),
                quality=bindparam("quality"),
                retracted_at=bindparam("retracted_at"),
                updated_at=bindparam("updated_at"),
            )
        )
        for chunk in _chunks(rows, 2000):
            await self.session.execute(statement, list(chunk))

    async def refresh_hashes(
        self, hash_ids: Sequence[int], now: datetime, contributed: set[int]
    ) -> dict[int, HashState]:
        """Derive labels, contributor count and status of hashes from their active
        contributions, and store them. `contributed` hashes also get `last_contributed_at`."""
        labels: dict[int, set[str]] = {hash_id: set() for hash_id in hash_ids}
        counts: dict[int, int] = dict.fromkeys(hash_ids, 0)
        states: dict[int, HashState] = {}
        for chunk in _chunks(sorted(set(hash_ids))):
            active = select(Contribution.hash_id, Contribution.labels).where(
                Contribution.hash_id.in_(chunk), Contribution.retracted_at.is_(None)
            )
            for hash_id, contribution_labels in await self.session.execute(active):
                labels[hash_id].update(contribution_labels)
                counts[hash_id] += 1
            current = select(Hash.id, Hash.signal_type, Hash.value, Hash.status, Hash.labels).where(
                Hash.id.in_(chunk)
            )
            for hash_id, signal_type, value, status, old_labels in await self.session.execute(
                current
            ):
                states[hash_id] = HashState(hash_id, signal_type, value, status)
                if not labels[hash_id]:
                    labels[hash_id].update(old_labels)
        updates = []
        for hash_id, state in states.items():
            if counts[hash_id] == 0:
                state.status = HashStatus.RETRACTED.value
            elif state.status == HashStatus.RETRACTED.value:
                state.status = HashStatus.ACTIVE.value
            state.contributors = counts[hash_id]
            row: dict[str, Any] = {
                "b_id": hash_id,
                "status": state.status,
                "contributors": counts[hash_id],
                "updated_at": now,
            }
            # The last retraction keeps the labels the hash had, for the record.
            if counts[hash_id]:
                row["labels"] = sorted(labels[hash_id])
            updates.append(row)
        # One executemany per shape of UPDATE (which columns change).
        groups: dict[tuple[bool, bool], list[dict[str, Any]]] = {}
        for update_row in updates:
            shape = ("labels" in update_row, update_row["b_id"] in contributed)
            groups.setdefault(shape, []).append(update_row)
        for (with_labels, was_contributed), rows in groups.items():
            await self._update_hashes(rows, labels=with_labels, contributed=was_contributed)
        await ChangeRepository(self.session).append(
            [
                {
                    "hash_id": state.id,
                    "signal_type": state.signal_type,
                    "value": state.value,
                    "status": state.status,
                    "labels": sorted(labels[state.id]),
                    "contributors": state.contributors,
                    "changed_at": now,
                }
                for state in sorted(states.values(), key=lambda state: state.id)
            ]
        )
        return states

    async def set_status(
        self, hash_row: Hash, status: str, now: datetime, *, feedback_since: datetime | None = None
    ) -> None:
        """Change a hash's status (disputes and their resolution) and record the change."""
        values: dict[str, Any] = {"status": status, "updated_at": now}
        if feedback_since is not None:
            values["feedback_since"] = feedback_since
        await self.session.execute(
            update(HASHES).where(HASHES.c.id == hash_row.id).values(**values)
        )
        await self.session.refresh(hash_row)
        await ChangeRepository(self.session).append(
            [
                {
                    "hash_id": hash_row.id,
                    "signal_type": hash_row.signal_type,
                    "value": hash_row.value,
                    "status": status,
                    "labels": hash_row.labels,
                    "contributors": hash_row.contributors,
                    "changed_at": now,
                }
            ]
        )

    async def retract_all_contributions(self, hash_id: int, now: datetime) -> None:
        await self.session.execute(
            update(CONTRIBUTIONS)
            .where(CONTRIBUTIONS.c.hash_id == hash_id, CONTRIBUTIONS.c.retracted_at.is_(None))
            .values(retracted_at=now, updated_at=now)
        )

    async def _update_hashes(
        self, rows: list[dict[str, Any]], *, labels: bool, contributed: bool
    ) -> None:
        values: dict[str, Any] = {
            "status": bindparam("status"),
            "contributors": bindparam("contributors"),
            "updated_at": bindparam("updated_at"),
        }
        if labels:
            values["labels"] = bindparam("labels")
        if contributed:
            values["last_contributed_at"] = bindparam("updated_at")
        statement = update(HASHES).where(HASHES.c.id == bindparam("b_id")).values(**values)
        for chunk in _chunks(rows, 2000):
            await self.session.execute(statement, list(chunk))

    async def contributions_to(self, hash_id: int) -> Sequence[Contribution]:
        query = (
            select(Contribution).where(Contribution.hash_id == hash_id).order_by(Contribution.id)
        )
        return (await self.session.scalars(query)).all()

    async def flush(self) -> None:
        await self.session.flush()
