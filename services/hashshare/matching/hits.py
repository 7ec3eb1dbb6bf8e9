"""What a match reports of each stored hash it found, kept in memory for the popular ones.

The index answers with hash ids; a match also reports each hit's value, labels, status and
number of contributors. Reading those rows for every matching upload would put a database
round trip on the hot path, so the most recently reported hashes are kept here, by id.

Staleness is ruled out, not bounded: every change to a hash (a commit of this process, or
the change feed) calls `forget` for its id, and a row read from the database is remembered
only if nothing was forgotten while it was being read (the `epoch`), so a read that raced a
change can never put the old state back. (A process's own change coming back from the feed
is not a change: see `IndexHolder.apply`.)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HitRow:
    """A stored hash as a match reports it."""

    signal_type: str
    value: str  # as the signal type formats it (hex)
    status: str
    labels: tuple[str, ...]
    contributors: int


class HitCache:
    """Up to `capacity` rows by hash id; the least recently reported makes room."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.epoch = 0
        self._rows: OrderedDict[int, HitRow] = OrderedDict()

    def __len__(self) -> int:
        return len(self._rows)

    def lookup(self, hash_ids: Iterable[int]) -> tuple[dict[int, HitRow], list[int]]:
        """The remembered rows, and the ids that must be read from the database."""
        found: dict[int, HitRow] = {}
        missing: list[int] = []
        rows = self._rows
        for hash_id in hash_ids:
            row = rows.get(hash_id)
            if row is None:
                missing.append(hash_id)
            else:
                found[hash_id] = row
                rows.move_to_end(hash_id)
        return found, missing

    def remember(self, rows: Mapping[int, HitRow], epoch: int) -> None:
        """Keep rows read from the database, unless a change was forgotten since `epoch`."""
        if epoch != self.epoch or self.capacity <= 0:
            return
        for hash_id, row in rows.items():
            if hash_id not in self._rows and len(self._rows) >= self.capacity:
                self._rows.popitem(last=False)
            self._rows[hash_id] = row

    def forget(self, hash_ids: Iterable[int]) -> None:
        """The hashes changed: drop their rows and void any read in progress."""
        self.epoch += 1
        for hash_id in hash_ids:
            self._rows.pop(hash_id, None)
