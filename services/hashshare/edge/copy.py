"""The edge's copy of the shared set: what a match reports of each hash, and the indexes.

The copy is a `ChangeSink` (the follower applies the central feed to it, exactly as a
replica applies the database's feed) and the `HitDetails` of the edge's match service, so
hits are reported from memory, with no database anywhere. Held hashes are only the matchable
ones (active or disputed); a tombstone drops its hash.

Two ways in: `catch_up` takes pages of the feed into the table alone (fast, no index work,
as many changes as a first sync brings), and `build` then builds every index in one go, as
the service's loader does; after that, `apply` changes table and indexes together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hashshare.changes.entry import ChangeEntry
from hashshare.matching.hits import HitRow
from hashshare.matching.holder import MATCHABLE, IndexHolder
from hashshare.matching.index import MatchIndex, build_index
from hashshare.signals import REGISTRY


@dataclass(frozen=True, slots=True)
class Held:
    """One matchable hash of the copy."""

    signal_type: str
    value: bytes
    status: str
    labels: tuple[str, ...]
    contributors: int


class EdgeCopy:
    def __init__(self, holder: IndexHolder) -> None:
        self.holder = holder
        self.held: dict[int, Held] = {}
        self.cursor = 0  # every feed entry up to this sequence number is in the copy
        self.changed = False  # since the last save
        # Interned, so a million hashes share a few dozen label tuples and status strings.
        self._labels: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._strings: dict[str, str] = {}

    def _intern(self, change: ChangeEntry) -> Held:
        labels = self._labels.setdefault(change.labels, change.labels)
        strings = self._strings
        return Held(
            signal_type=strings.setdefault(change.signal_type, change.signal_type),
            value=change.value,
            status=strings.setdefault(change.status, change.status),
            labels=labels,
            contributors=change.contributors,
        )

    def catch_up(self, changes: Sequence[ChangeEntry]) -> None:
        """Take feed entries into the table only (before `build`)."""
        held = self.held
        for change in changes:
            if change.status in MATCHABLE and change.signal_type in REGISTRY:
                held[change.hash_id] = self._intern(change)
            else:
                held.pop(change.hash_id, None)
        self._advance(changes)

    def load_part(self, part: dict[str, Any]) -> None:
        """Take one part of `GET /v1/snapshot` into the table (before `build`)."""
        name = part["signal_type"]
        signal_type = REGISTRY.get(name)
        if signal_type is None:
            return
        name = self._strings.setdefault(name, name)
        width = signal_type.bits // 8
        values = bytes.fromhex(part["values"])
        label_sets = [
            self._labels.setdefault(tuple(labels), tuple(labels)) for labels in part["label_sets"]
        ]
        strings = self._strings
        held = self.held
        for row, (hash_id, status, labels, contributors) in enumerate(
            zip(
                part["hash_ids"],
                part["statuses"],
                part["labels"],
                part["contributors"],
                strict=True,
            )
        ):
            held[hash_id] = Held(
                signal_type=name,
                value=values[row * width : (row + 1) * width],
                status=strings.setdefault(status, status),
                labels=label_sets[labels],
                contributors=contributors,
            )
        self.changed = True

    def _advance(self, changes: Sequence[ChangeEntry]) -> None:
        if changes:
            self.cursor = max(self.cursor, changes[-1].seq or self.cursor)
            self.changed = True

    async def build(self) -> None:
        """Build every index from the table, on worker threads, and install them."""
        found: dict[str, tuple[list[int], bytearray]] = {
            name: ([], bytearray()) for name in REGISTRY
        }
        for hash_id in sorted(self.held):
            entry = self.held[hash_id]
            ids, values = found[entry.signal_type]
            ids.append(hash_id)
            values.extend(entry.value)
        indexes: dict[str, MatchIndex] = {}
        for name, (ids, values) in found.items():
            indexes[name] = await asyncio.to_thread(build_index, REGISTRY[name], ids, values)
        self.holder.install(indexes, 0.0)

    def apply(self, changes: Sequence[ChangeEntry]) -> None:
        """The follower's entries: table and indexes (the `ChangeSink` of the edge)."""
        if not changes:
            return
        self.catch_up(changes)
        self.holder.apply(changes)

    async def rows(self, hash_ids: Sequence[int]) -> dict[int, HitRow]:
        """The `HitDetails` of the edge: every hit from the table."""
        rows: dict[int, HitRow] = {}
        for hash_id in hash_ids:
            entry = self.held.get(hash_id)
            if entry is not None:
                rows[hash_id] = HitRow(
                    signal_type=entry.signal_type,
                    value=REGISTRY[entry.signal_type].format(entry.value),
                    status=entry.status,
                    labels=entry.labels,
                    contributors=entry.contributors,
                )
        return rows
