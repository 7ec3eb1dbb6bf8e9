"""The in-memory shared set of one process: a match index per signal type, and the details
of recently reported hits (`hits.py`).

It changes one way only: `apply(changes)`, with the entries of the change feed. The writing
process applies its own entries once their transaction has committed
(`changes.service.ChangeService.append`); a `ChangeFollower` (`follower.py`) applies
everyone's from a `ChangeSource`. Applying an entry twice is harmless. An applied entry
also forgets its hash's remembered details, except this process's own entry when it comes
back from the feed (it has no sequence number when applied at commit, one from the feed):
nothing changed since it was applied, and forgetting then would void the reads in flight.
`loader.py` fills the holder at start-up.

When an index's small delta has grown, its frozen part is rebuilt on a worker thread and
swapped in; changes made meanwhile are replayed (see `mih.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence

from hashshare.changes.entry import ChangeEntry
from hashshare.hashes.models import MATCHABLE_STATUSES
from hashshare.matching.hits import HitCache
from hashshare.matching.index import MatchIndex, Rebuildable, build_index
from hashshare.signals import REGISTRY

log = logging.getLogger(__name__)

MATCHABLE = frozenset(status.value for status in MATCHABLE_STATUSES)
# Own entries awaiting their return from the feed (a follower that has stopped must not make
# them grow without bound; one forgotten too many costs a database read, nothing more).
MAX_ECHOES = 100_000


class IndexHolder:
    def __init__(self, hit_cache_size: int = 0) -> None:
        self.hits = HitCache(hit_cache_size)
        self._indexes: dict[str, MatchIndex] = {
            name: build_index(signal_type) for name, signal_type in REGISTRY.items()
        }
        self.ready = False
        self.load_seconds: float | None = None
        self._rebuilds: dict[str, asyncio.Task[None]] = {}
        # This process's own entries, applied at commit, until the feed brings them back.
        self._echoes: OrderedDict[int, tuple[str, tuple[str, ...], int]] = OrderedDict()

    def index(self, signal_type: str) -> MatchIndex:
        return self._indexes[signal_type]

    def sizes(self) -> dict[str, int]:
        return {name: len(index) for name, index in self._indexes.items()}

    def kernels(self) -> dict[str, str]:
        """Which kernel serves each signal type's index."""
        return {name: index.kernel_name for name, index in self._indexes.items()}

    def install(self, indexes: dict[str, MatchIndex], load_seconds: float) -> None:
        """Put freshly loaded indexes in place and mark the holder ready."""
        self._indexes.update(indexes)
        self.load_seconds = load_seconds
        self.ready = True

    def search(self, signal_type: str, value: bytes, max_distance: int) -> list[tuple[int, int]]:
        return self._indexes[signal_type].search(value, max_distance)

    def apply(self, changes: Sequence[ChangeEntry]) -> None:
        """Apply feed entries in feed order: matchable hashes in, the others out."""
        if not changes:
            return
        echoes = self._echoes
        stale: list[int] = []
        for change in changes:
            state = (change.status, change.labels, change.contributors)
            if change.seq is None:
                echoes[change.hash_id] = state
                echoes.move_to_end(change.hash_id)
                stale.append(change.hash_id)
            elif echoes.pop(change.hash_id, None) != state:
                stale.append(change.hash_id)
        while len(echoes) > MAX_ECHOES:
            echoes.popitem(last=False)
        if stale:
            self.hits.forget(stale)
        for change in changes:
            index = self._indexes.get(change.signal_type)
            if index is None:
                continue
            if change.status in MATCHABLE:
                index.add(change.hash_id, change.value)
            else:
                index.remove(change.hash_id)

    def start_rebuilds(self) -> None:
        """Rebuild, in the background, every index whose delta has grown too large."""
        for name, index in self._indexes.items():
            if name in self._rebuilds or not isinstance(index, Rebuildable):
                continue
            if index.needs_rebuild():
                task = asyncio.create_task(self._rebuild(name, index), name=f"rebuild-{name}")
                self._rebuilds[name] = task
                task.add_done_callback(functools.partial(self._rebuild_done, name))

    async def _rebuild(self, name: str, index: Rebuildable) -> None:
        started = time.perf_counter()
        job = index.rebuild_job()
        try:
            base = await asyncio.to_thread(job.run)
        except BaseException:
            # Out of memory, say, or cancelled: the index keeps serving from what it has, and
            # stops recording changes for this rebuild (they would pile up for ever, and no
            # later rebuild could start).
            index.abandon_rebuild()
            raise
        index.install(base)
        log.info(
            "match index rebuilt: %s, %d hashes in %.2f s",
            name,
            len(index),
            time.perf_counter() - started,
        )

    def _rebuild_done(self, name: str, task: asyncio.Task[None]) -> None:
        self._rebuilds.pop(name, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("index rebuild failed", exc_info=task.exception())

    async def stop(self) -> None:
        """Cancel rebuilds in progress."""
        for task in list(self._rebuilds.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
