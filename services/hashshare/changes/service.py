"""The one path of every change to the shared set.

A write transaction takes the writers' lock (`lock`), changes its rows, and appends the
hashes as they now are (`append`). Once the transaction has committed, the same entries are
handed to the process's in-memory copy (`ChangeSink.apply`), the function a follower calls
for other processes' changes: nothing else updates an index or forgets a remembered hit.
"""

from __future__ import annotations

from collections.abc import Sequence

from hashshare.changes.entry import ChangeEntry, ChangeSink
from hashshare.changes.repository import ChangeRepository
from hashshare.changes.schemas import ChangeOut, ChangePage, HashHistory
from hashshare.db import UnitOfWork
from hashshare.errors import NotFound


class ChangeService:
    def __init__(self, sink: ChangeSink) -> None:
        self._sink = sink

    async def lock(self, uow: UnitOfWork) -> None:
        """Take the writers' lock first (see `ChangeRepository.lock_for_append`)."""
        await ChangeRepository(uow.session).lock_for_append()

    async def append(self, uow: UnitOfWork, entries: Sequence[ChangeEntry]) -> None:
        """Put `entries` on the feed; apply them in this process once `uow` has committed."""
        if not entries:
            return
        await ChangeRepository(uow.session).append(entries)
        uow.on_commit(lambda: self._sink.apply(entries))

    async def head(self, uow: UnitOfWork) -> int:
        return await ChangeRepository(uow.session).head()

    async def page(self, uow: UnitOfWork, after: int, limit: int) -> ChangePage:
        """Up to `limit` changes after the cursor `after`, for `GET /v1/changes`."""
        repository = ChangeRepository(uow.session)
        head = await repository.head()
        changes = await repository.after(after, limit + 1)
        page = changes[:limit]
        return ChangePage(
            changes=[_out(change) for change in page],
            next_cursor=str(page[-1].seq) if page else str(after),
            has_more=len(changes) > limit,
            head_seq=max(head, page[-1].seq or 0) if page else head,
        )

    async def history(self, uow: UnitOfWork, hash_id: int) -> HashHistory:
        """Every state one hash has had, from the feed; `hash_not_found` if it has none."""
        changes = await ChangeRepository(uow.session).of_hash(hash_id)
        if not changes:
            raise NotFound(f"no hash with id {hash_id}", code="hash_not_found")
        return HashHistory(hash_id=hash_id, changes=[_out(change) for change in changes])


def _out(change: ChangeEntry) -> ChangeOut:
    return ChangeOut(
        seq=change.seq or 0,
        kind=change.kind,  # type: ignore[arg-type]
        hash_id=change.hash_id,
        signal_type=change.signal_type,
        value=change.value.hex(),
        status=change.status,  # type: ignore[arg-type]
        labels=list(change.labels),
        contributors=change.contributors,
        changed_at=change.changed_at,
    )
