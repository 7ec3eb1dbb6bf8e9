"""Splitting long inputs into API-sized batches, and setting aside the items a batch refused.

A batch is stored all or none: when the service refuses some of its items
(`invalid_items`, with the index of each), those are reported as `Rejection`s and the rest of
the batch is sent again, so one bad line does not hold back the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Generic, TypeVar

from hashshare.client.errors import ApiError
from hashshare.hashes.schemas import HashSubmission, SubmitResult
from hashshare.matching.schemas import MatchQuery, MatchResult

T = TypeVar("T")
Item = TypeVar("Item", HashSubmission, MatchQuery)

DEFAULT_SUBMIT_BATCH = 2000
DEFAULT_MATCH_BATCH = 1000
DEFAULT_CONCURRENCY = 2


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    if size < 1:
        raise ValueError("batch size must be at least 1")
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


@dataclass(frozen=True, slots=True)
class Rejection(Generic[Item]):
    """An item the service refused; `index` is its position in the batch."""

    index: int
    item: Item
    code: str
    message: str
    field: str | None = None


@dataclass(slots=True)
class Batch(Generic[Item]):
    """One batch of a `submit_many` or `match_many`: `start` is its first item's position."""

    number: int
    start: int
    items: list[Item]
    rejected: list[Rejection[Item]] = field(default_factory=list)


@dataclass(slots=True)
class SubmitBatch(Batch[HashSubmission]):
    """Results' `index` is the item's position in this batch."""

    results: list[SubmitResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for result in self.results if result.status == status)


@dataclass(slots=True)
class MatchBatch(Batch[MatchQuery]):
    """Results' `index` is the query's position in this batch."""

    results: list[MatchResult] = field(default_factory=list)


def refused_items(error: ApiError, batch_size: int) -> dict[int, tuple[str, str, str | None]]:
    """{index: (code, message, field)} of the items an `invalid_items` error names; else {}."""
    if error.status != 422 or error.code != "invalid_items" or not isinstance(error.details, dict):
        return {}
    refused: dict[int, tuple[str, str, str | None]] = {}
    for entry in error.details.get("errors") or []:
        index = entry.get("index") if isinstance(entry, dict) else None
        if isinstance(index, int) and 0 <= index < batch_size and index not in refused:
            refused[index] = (
                str(entry.get("code", "invalid")),
                str(entry.get("message", "")),
                entry.get("field"),
            )
    return refused


def set_aside(batch: Batch[Item], positions: list[int], error: ApiError) -> list[int]:
    """Record the items `error` refused among `positions`; return the positions left to send.

    Raises `error` again when it is not about individual items (a bad token, a batch too
    large...): nothing of the batch can then be sent."""
    refused = refused_items(error, len(positions))
    if not refused:
        raise error
    for index, (code, message, field_name) in refused.items():
        position = positions[index]
        batch.rejected.append(Rejection(position, batch.items[position], code, message, field_name))
    batch.rejected.sort(key=lambda rejection: rejection.index)
    return [position for index, position in enumerate(positions) if index not in refused]
