"""All SQL of hashes and contributions.

A bulk submission touches up to 10,000 hashes, and its cost must follow the batch, not the
table. On PostgreSQL every statement therefore carries its rows as array parameters and
joins them to the table (`unnest(:values) JOIN hashes ...`): one statement per step
whatever the batch size. Long `IN ($1, ..., $500)` lists had been planned as scans of the
whole table, filtered, whenever the statistics were stale (a set that grows by 10,000 rows
a request is never freshly analysed) or the prepared statement's plan went generic, and
took seconds at 100,000 rows. `prefer_index_lookups` makes the plans of the transaction
nested loops, so each row of the batch is one index lookup whatever the statistics say.
SQLite, in-process and with no plan cache to go wrong, takes `IN` lists in chunks and
`executemany`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import (
    ARRAY,
    Select,
    Table,
    Text,
    bindparam,
    cast,
    func,
    select,
    text,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from hashshare.db import executemany, is_postgresql, labels_from_json, labels_json, stored_form
from hashshare.hashes.models import MATCHABLE_STATUSES, Contribution, Hash, HashStatus

CHUNK = 500
# Bulk writes go through Core tables: one compiled statement, many parameter sets.
HASHES: Table = Hash.__table__  # type: ignore[assignment]
CONTRIBUTIONS: Table = Contribution.__table__  # type: ignore[assignment]

Key = tuple[str, bytes]


@dataclass(slots=True)
class HashState:
    """The few columns of a hash that writes need, without an ORM object."""

    id: int
    signal_type: str
    value: bytes
    status: str
    contributors: int = 0
    labels: tuple[str, ...] = ()


@dataclass(slots=True)
class StoredContribution:
    """A member's contribution to one hash, as a submission compares and updates it."""

    id: int
    hash_id: int
    labels: list[str]
    external_ref: str | None
    quality: int | None
    retracted_at: datetime | None

    def matches(self, labels: list[str], external_ref: str | None, quality: int | None) -> bool:
        return (
            self.retracted_at is None
            and self.labels == labels
            and self.external_ref == external_ref
            and self.quality == quality
        )


@dataclass(frozen=True, slots=True)
class NewHash:
    """A value not stored yet, with the contribution that brings it."""

    signal_type: str
    value: bytes
    labels: list[str]


T = TypeVar("T")


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _keys(rows: Sequence[NewHash]) -> list[Key]:
    return [(row.signal_type, row.value) for row in rows]


def _json(value: list[str]) -> str:
    return labels_json(tuple(value))


# PostgreSQL: rows as arrays, one statement whatever their number.
# One statement for a whole batch: each value is looked up once in the unique index; the
# values not found go in (ids drawn in the batch's order, none for values already stored: a
# daily re-sync of millions would burn millions), and both kinds come back.
_PG_STORE_NEW = text(
    """
    WITH batch AS MATERIALIZED (
        SELECT t.n, t.signal_type, t.value, t.labels, h.id, h.status, h.contributors
        FROM unnest(CAST(:signal_types AS varchar[]), CAST(:hash_values AS bytea[]),
                    CAST(:labels AS text[])) WITH ORDINALITY AS t(signal_type, value, labels, n)
        LEFT JOIN LATERAL (
            SELECT id, status, contributors FROM hashes
            WHERE hashes.signal_type = t.signal_type AND hashes.value = t.value
            OFFSET 0
        ) AS h ON true
    ),
    inserted AS (
        INSERT INTO hashes (signal_type, value, status, labels, contributors,
                            first_contributed_at, last_contributed_at, updated_at)
        SELECT signal_type, value, 'active', CAST(labels AS json), 1, :now, :now, :now
        FROM batch WHERE id IS NULL
        ORDER BY n
        RETURNING id, signal_type, value
    )
    SELECT id, signal_type, value, CAST(NULL AS varchar) AS status,
           CAST(NULL AS integer) AS contributors
    FROM inserted
    UNION ALL
    SELECT id, signal_type, value, status, contributors FROM batch WHERE id IS NOT NULL
    """
)
_PG_INSERT_CONTRIBUTIONS = text(
    """
    INSERT INTO contributions (hash_id, member_id, labels, external_ref, quality,
                               created_at, updated_at)
    SELECT t.hash_id, :member_id, CAST(t.labels AS json), t.external_ref, t.quality, :now, :now
    FROM unnest(CAST(:hash_ids AS bigint[]), CAST(:labels AS text[]),
                CAST(:external_refs AS varchar[]), CAST(:qualities AS integer[]))
         AS t(hash_id, labels, external_ref, quality)
    """
)
_PG_UPDATE_CONTRIBUTIONS = text(
    """
    UPDATE contributions AS c
    SET labels = CAST(t.labels AS json), external_ref = t.external_ref, quality = t.quality,
        retracted_at = t.retracted_at, updated_at = t.updated_at
    FROM unnest(CAST(:ids AS bigint[]), CAST(:labels AS text[]),
                CAST(:external_refs AS varchar[]), CAST(:qualities AS integer[]),
                CAST(:retracted_ats AS timestamptz[]), CAST(:updated_ats AS timestamptz[]))
         AS t(id, labels, external_ref, quality, retracted_at, updated_at)
    WHERE c.id = t.id
    """
)
_PG_UPDATE_HASHES = text(
    """
    UPDATE hashes AS h
    SET status = t.status, contributors = t.contributors,
        labels = COALESCE(CAST(t.labels AS json), h.labels), updated_at = :now,
        last_contributed_at = CASE WHEN t.contributed THEN :now ELSE h.last_contributed_at END
    FROM unnest(CAST(:ids AS bigint[]), CAST(:statuses AS varchar[]),
                CAST(:contributors AS integer[]), CAST(:labels AS text[]),
                CAST(:contributed AS boolean[]))
         AS t(id, status, contributors, labels, contributed)
    WHERE h.id = t.id
    """
)

_PG_MATCHABLE_PAGE = text(
    """
    SELECT signal_type, array_agg(id ORDER BY id), string_agg(value, ''::bytea ORDER BY id)
    FROM (
        SELECT id, signal_type, value FROM hashes
        WHERE status IN ('active', 'disputed') AND id > :after
        ORDER BY id LIMIT :limit
    ) AS page
    GROUP BY signal_type
    """
)

# The same page with everything a copy of the shared set keeps of each hash (labels as text).
_PG_SNAPSHOT_PAGE = text(
    """
    SELECT signal_type, array_agg(id ORDER BY id), string_agg(value, ''::bytea ORDER BY id),
           array_agg(status ORDER BY id), array_agg(CAST(labels AS text) ORDER BY id),
           array_agg(contributors ORDER BY id)
    FROM (
        SELECT id, signal_type, value, status, labels, contributors FROM hashes
        WHERE status IN ('active', 'disputed') AND id > :after
        ORDER BY id LIMIT :limit
    ) AS page
    GROUP BY signal_type
    """
)


@dataclass(frozen=True, slots=True)
class SnapshotPart:
    """Matchable hashes of one signal type, in id order, as columns."""

    signal_type: str
    ids: list[int]
    values: bytes  # concatenated
    statuses: list[str]
    labels: list[tuple[str, ...]]
    contributors: list[int]


# SQLite: plain statements, their values already in stored form (see `db.stored_form`).
_SQLITE_INSERT_HASHES = """
    INSERT INTO hashes (id, signal_type, value, status, labels, contributors,
                        first_contributed_at, last_contributed_at, updated_at)
    VALUES (?1, ?2, ?3, 'active', ?4, 1, ?5, ?5, ?5)
"""
_SQLITE_INSERT_CONTRIBUTIONS = """
    INSERT INTO contributions (hash_id, member_id, labels, external_ref, quality,
                               created_at, updated_at)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
"""


class HashRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.postgres = is_postgresql(session)

    async def prefer_index_lookups(self) -> None:
        """Plan the rest of this transaction as index lookups driven by the batch's rows.

        Without it, PostgreSQL may scan a table it believes small (stale statistics) once
        for every row of the batch, or join the batch to it by scanning it whole: fast at
        first, then seconds per statement as the table grows.
        """
        if self.postgres:
            await self.session.execute(
                text(
                    "SELECT set_config('enable_seqscan', 'off', true),"
                    " set_config('enable_hashjoin', 'off', true),"
                    " set_config('enable_mergejoin', 'off', true)"
                )
            )

    def _among(self, query: Any, column: Any, values: Sequence[Any]) -> Iterator[Select[Any]]:
        """`query` restricted to rows whose `column` is one of `values`.

        PostgreSQL: one statement that looks each value of an array parameter up on its own
        (a LATERAL subquery, kept from being flattened into a join by `OFFSET 0`); SQLite:
        IN lists in chunks.
        """
        if not values:
            return
        if not self.postgres:
            for chunk in _chunks(values):
                yield query.where(column.in_(chunk))
            return
        array = ARRAY(column.type)
        keys = (
            func.unnest(cast(bindparam(None, list(values), type_=array), array))
            .table_valued("key")
            .render_derived()
        )
        each = query.where(column == keys.c.key).offset(0).lateral()
        yield select(*each.c).select_from(keys).join(each, true())

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
        for query in self._among(select(*columns), Hash.id, sorted(set(hash_ids))):
            for row in await self.session.execute(query):
                found[row.id] = row
        return found

    async def store_new(
        self, rows: Sequence[NewHash], now: datetime
    ) -> tuple[dict[Key, int], dict[Key, HashState]]:
        """Insert the values not stored yet as active hashes with one contribution's labels.

        Returns the ids of the values inserted (in the order of `rows`) and the state of the
        others. The caller holds the writers' lock (`ChangeRepository.lock_for_append`), so
        no other submission inserts meanwhile.
        """
        if not rows:
            return {}, {}
        if self.postgres:
            result = await self.session.execute(
                _PG_STORE_NEW,
                {
                    "signal_types": [row.signal_type for row in rows],
                    "hash_values": [row.value for row in rows],
                    "labels": [_json(row.labels) for row in rows],
                    "now": now,
                },
            )
            inserted: dict[Key, int] = {}
            stored: dict[Key, HashState] = {}
            for hash_id, signal_type, value, status, contributors in result.all():
                if status is None:
                    inserted[(signal_type, value)] = hash_id
                else:
                    stored[(signal_type, value)] = HashState(
                        hash_id, signal_type, value, status, contributors
                    )
            return inserted, stored
        # SQLite: look up, and insert the rest with a plain executemany (far cheaper through
        # the driver than RETURNING). Their ids are the ones SQLite would draw (the next after
        # the highest), given here so that they need not be looked up again: the caller holds
        # the write lock, so nothing else inserts meanwhile.
        stored = await self.find(_keys(rows))
        missing = [row for row in rows if (row.signal_type, row.value) not in stored]
        if not missing:
            return {}, stored
        highest = await self.session.scalar(select(func.max(Hash.id)))
        stamp = stored_form(self.session, HASHES.c.updated_at, now)
        params = [
            (hash_id, row.signal_type, row.value, _json(row.labels), stamp)
            for hash_id, row in enumerate(missing, start=(highest or 0) + 1)
        ]
        await executemany(self.session, _SQLITE_INSERT_HASHES, params)
        inserted = {(signal_type, value): hash_id for hash_id, signal_type, value, *_ in params}
        return inserted, stored

    async def find(self, keys: Sequence[Key]) -> dict[Key, HashState]:
        """The stored hashes among `keys`."""
        by_type: dict[str, list[bytes]] = {}
        for signal_type, value in keys:
            by_type.setdefault(signal_type, []).append(value)
        found: dict[Key, HashState] = {}
        for signal_type, values in by_type.items():
            of_type = select(Hash.id, Hash.value, Hash.status, Hash.contributors).where(
                Hash.signal_type == signal_type
            )
            for query in self._among(of_type, Hash.value, values):
                for hash_id, value, status, contributors in await self.session.execute(query):
                    found[(signal_type, value)] = HashState(
                        hash_id, signal_type, value, status, contributors
                    )
        return found

    async def contributions_of(
        self, member_id: str, hash_ids: Sequence[int]
    ) -> dict[int, StoredContribution]:
        # Labels as their JSON text, decoded once per distinct text: a re-sync of 10,000
        # hashes carries a few label sets, and decoding each row's took longer than reading it.
        columns = (
            Contribution.id,
            Contribution.hash_id,
            cast(Contribution.labels, Text),
            Contribution.external_ref,
            Contribution.quality,
            Contribution.retracted_at,
        )
        found: dict[int, StoredContribution] = {}
        of_member = select(*columns).where(Contribution.member_id == member_id)
        for query in self._among(of_member, Contribution.hash_id, sorted(set(hash_ids))):
            rows = (await self.session.execute(query)).all()
            for row_id, hash_id, labels, external_ref, quality, retracted_at in rows:
                labels_list = list(labels_from_json(labels))
                found[hash_id] = StoredContribution(
                    row_id, hash_id, labels_list, external_ref, quality, retracted_at
                )
        return found

    async def insert_contributions(
        self, member_id: str, rows: Sequence[dict[str, Any]], now: datetime
    ) -> None:
        """Rows carry `hash_id`, `labels`, `external_ref` and `quality`."""
        if not rows:
            return
        if self.postgres:
            await self.session.execute(
                _PG_INSERT_CONTRIBUTIONS,
                {
                    "hash_ids": [row["hash_id"] for row in rows],
                    "labels": [_json(row["labels"]) for row in rows],
                    "external_refs": [row["external_ref"] for row in rows],
                    "qualities": [row["quality"] for row in rows],
                    "member_id": member_id,
                    "now": now,
                },
            )
            return
        stamp = stored_form(self.session, CONTRIBUTIONS.c.created_at, now)
        full = [
            (
                row["hash_id"],
                member_id,
                _json(row["labels"]),
                row["external_ref"],
                row["quality"],
                stamp,
            )
            for row in rows
        ]
        await executemany(self.session, _SQLITE_INSERT_CONTRIBUTIONS, full)

    async def update_contributions(self, rows: Sequence[dict[str, Any]]) -> None:
        """Rows carry `b_id` (the contribution id) and the new column values."""
        if not rows:
            return
        if self.postgres:
            await self.session.execute(
                _PG_UPDATE_CONTRIBUTIONS,
                {
                    "ids": [row["b_id"] for row in rows],
                    "labels": [_json(row["labels"]) for row in rows],
                    "external_refs": [row["external_ref"] for row in rows],
                    "qualities": [row["quality"] for row in rows],
                    "retracted_ats": [row["retracted_at"] for row in rows],
                    "updated_ats": [row["updated_at"] for row in rows],
                },
            )
            return
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
        ids = sorted(set(hash_ids))
        labels: dict[int, set[str]] = {hash_id: set() for hash_id in ids}
        counts: dict[int, int] = dict.fromkeys(ids, 0)
        states: dict[int, HashState] = {}
        active = select(Contribution.hash_id, Contribution.labels).where(
            Contribution.retracted_at.is_(None)
        )
        for query in self._among(active, Contribution.hash_id, ids):
            for hash_id, contribution_labels in await self.session.execute(query):
                labels[hash_id].update(contribution_labels)
                counts[hash_id] += 1
        current = select(Hash.id, Hash.signal_type, Hash.value, Hash.status, Hash.labels)
        for query in self._among(current, Hash.id, ids):
            for hash_id, signal_type, value, status, old_labels in await self.session.execute(
                query
            ):
                states[hash_id] = HashState(hash_id, signal_type, value, status)
                if not labels[hash_id]:
                    labels[hash_id].update(old_labels)
        for hash_id, state in states.items():
            if counts[hash_id] == 0:
                state.status = HashStatus.RETRACTED.value
            elif state.status == HashStatus.RETRACTED.value:
                state.status = HashStatus.ACTIVE.value
            state.contributors = counts[hash_id]
            state.labels = tuple(sorted(labels[hash_id]))
        ordered = sorted(states.values(), key=lambda state: state.id)
        # The last retraction keeps the labels the hash had, for the record.
        await self._store_states(
            [(state, list(state.labels) if state.contributors else None) for state in ordered],
            now,
            contributed,
        )
        return dict(sorted(states.items()))

    async def _store_states(
        self,
        rows: Sequence[tuple[HashState, list[str] | None]],
        now: datetime,
        contributed: set[int],
    ) -> None:
        """Store status, contributors and (where given) labels of hashes."""
        if not rows:
            return
        if self.postgres:
            await self.session.execute(
                _PG_UPDATE_HASHES,
                {
                    "ids": [state.id for state, _ in rows],
                    "statuses": [state.status for state, _ in rows],
                    "contributors": [state.contributors for state, _ in rows],
                    "labels": [None if labels is None else _json(labels) for _, labels in rows],
                    "contributed": [state.id in contributed for state, _ in rows],
                    "now": now,
                },
            )
            return
        # One executemany per shape of UPDATE (which columns change).
        groups: dict[tuple[bool, bool], list[dict[str, Any]]] = {}
        for state, labels in rows:
            row: dict[str, Any] = {
                "b_id": state.id,
                "status": state.status,
                "contributors": state.contributors,
                "updated_at": now,
            }
            if labels is not None:
                row["labels"] = labels
            groups.setdefault((labels is not None, state.id in contributed), []).append(row)
        for (with_labels, was_contributed), group in groups.items():
            values: dict[str, Any] = {
                "status": bindparam("status"),
                "contributors": bindparam("contributors"),
                "updated_at": bindparam("updated_at"),
            }
            if with_labels:
                values["labels"] = bindparam("labels")
            if was_contributed:
                values["last_contributed_at"] = bindparam("updated_at")
            statement = update(HASHES).where(HASHES.c.id == bindparam("b_id")).values(**values)
            for chunk in _chunks(group, 2000):
                await self.session.execute(statement, list(chunk))

    async def set_status(
        self, hash_row: Hash, status: str, now: datetime, *, feedback_since: datetime | None = None
    ) -> None:
        """Change a hash's status (disputes and their resolution)."""
        values: dict[str, Any] = {"status": status, "updated_at": now}
        if feedback_since is not None:
            values["feedback_since"] = feedback_since
        await self.session.execute(
            update(HASHES).where(HASHES.c.id == hash_row.id).values(**values)
        )
        await self.session.refresh(hash_row)

    async def retract_all_contributions(self, hash_id: int, now: datetime) -> None:
        await self.session.execute(
            update(CONTRIBUTIONS)
            .where(CONTRIBUTIONS.c.hash_id == hash_id, CONTRIBUTIONS.c.retracted_at.is_(None))
            .values(retracted_at=now, updated_at=now)
        )

    async def contributions_to(self, hash_id: int) -> Sequence[Contribution]:
        query = (
            select(Contribution).where(Contribution.hash_id == hash_id).order_by(Contribution.id)
        )
        return (await self.session.scalars(query)).all()

    async def has_active_contribution(self, hash_id: int, member_id: str) -> bool:
        query = select(Contribution.id).where(
            Contribution.hash_id == hash_id,
            Contribution.member_id == member_id,
            Contribution.retracted_at.is_(None),
        )
        return await self.session.scalar(query) is not None

    async def with_status(self, status: str, after_id: int | None, limit: int) -> Sequence[Hash]:
        """Hashes of one status in id order (the status index serves this)."""
        query = select(Hash).where(Hash.status == status)
        if after_id is not None:
            query = query.where(Hash.id > after_id)
        return (await self.session.scalars(query.order_by(Hash.id).limit(limit))).all()

    async def snapshot_page(self, after: int, limit: int) -> list[SnapshotPart]:
        """The next page of matchable hashes by id with their status, labels and contributors."""
        if self.postgres:
            rows = await self.session.execute(_PG_SNAPSHOT_PAGE, {"after": after, "limit": limit})
            parts = []
            for signal_type, ids, values, statuses, labels, contributors in rows:
                texts: dict[str, tuple[str, ...]] = {}
                for label_text in set(labels):
                    texts[label_text] = tuple(orjson.loads(label_text))
                parts.append(
                    SnapshotPart(
                        signal_type,
                        list(ids),
                        bytes(values),
                        list(statuses),
                        [texts[label_text] for label_text in labels],
                        list(contributors),
                    )
                )
            return parts
        result = await self.session.execute(
            select(
                Hash.id, Hash.signal_type, Hash.value, Hash.status, Hash.labels, Hash.contributors
            )
            .where(Hash.status.in_(sorted(s.value for s in MATCHABLE_STATUSES)), Hash.id > after)
            .order_by(Hash.id)
            .limit(limit)
        )
        grouped: dict[str, SnapshotPart] = {}
        raw: dict[str, list[bytes]] = {}
        for hash_id, signal_type, value, status, labels, contributors in result:
            part = grouped.get(signal_type)
            if part is None:
                part = grouped[signal_type] = SnapshotPart(signal_type, [], b"", [], [], [])
                raw[signal_type] = []
            part.ids.append(hash_id)
            raw[signal_type].append(value)
            part.statuses.append(status)
            part.labels.append(tuple(labels))
            part.contributors.append(contributors)
        return [
            SnapshotPart(
                name,
                part.ids,
                b"".join(raw[name]),
                part.statuses,
                part.labels,
                part.contributors,
            )
            for name, part in grouped.items()
        ]

    async def matchable_page(self, after: int, limit: int) -> list[tuple[str, list[int], bytes]]:
        """The next page of matchable hashes by id: per signal type, ids and concatenated values.

        On PostgreSQL the database concatenates the values, which spares a Python object per
        row and makes loading 10 M hashes several times faster.
        """
        if self.postgres:
            rows = await self.session.execute(_PG_MATCHABLE_PAGE, {"after": after, "limit": limit})
            return [(signal_type, list(ids), bytes(values)) for signal_type, ids, values in rows]
        result = await self.session.execute(
            select(Hash.id, Hash.signal_type, Hash.value)
            .where(Hash.status.in_(sorted(s.value for s in MATCHABLE_STATUSES)), Hash.id > after)
            .order_by(Hash.id)
            .limit(limit)
        )
        grouped: dict[str, tuple[list[int], list[bytes]]] = {}
        for hash_id, signal_type, value in result:
            ids, values = grouped.setdefault(signal_type, ([], []))
            ids.append(hash_id)
            values.append(value)
        return [(name, ids, b"".join(values)) for name, (ids, values) in grouped.items()]
