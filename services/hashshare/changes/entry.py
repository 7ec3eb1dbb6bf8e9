"""A change to the shared set, as every in-memory copy applies it.

A write transaction appends `ChangeEntry` rows to the feed; after its commit the writing
process applies those same entries, and every other process (another replica, a member's
copy) reads them from a `ChangeSource` and applies them with the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

RETRACTED = "retracted"


@dataclass(frozen=True, slots=True)
class ChangeEntry:
    """The state of one hash after a change (new, contributed, retracted, status changed)."""

    hash_id: int
    signal_type: str
    value: bytes
    status: str
    labels: tuple[str, ...]
    contributors: int
    changed_at: datetime
    # Given by the feed; None for an entry this process has just written.
    seq: int | None = None

    @property
    def kind(self) -> str:
        """`tombstone` for a retracted hash (drop it from a copy), else `upsert`."""
        return "tombstone" if self.status == RETRACTED else "upsert"


class ChangeSink(Protocol):
    """An in-memory copy of the shared set."""

    def apply(self, changes: Sequence[ChangeEntry]) -> None:
        """Bring the copy up to date with `changes`, given in feed order."""


class ChangeSource(Protocol):
    """Where a follower reads the changes other processes made."""

    async def start(self) -> None:
        """Begin listening for news of changes (where the source can announce them)."""

    async def stop(self) -> None: ...

    async def after(self, seq: int, limit: int) -> Sequence[ChangeEntry]:
        """Up to `limit` entries with a sequence number above `seq`, in order."""

    async def head(self) -> int:
        """The highest sequence number (0 when the feed is empty)."""

    async def changed_at(self, seq: int) -> datetime | None:
        """When the entry `seq` was written."""

    async def wait(self, seconds: float) -> None:
        """Return when changes may have arrived, or after `seconds`."""
