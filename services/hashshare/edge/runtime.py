"""What a running edge holds, and how it starts: load the saved copy, catch up with the
central feed, build the indexes, then follow the feed and save the copy now and then.

The catch-up of a first sync (or of a long absence) takes pages of the feed into the copy's
table only, saving the copy every `persist_seconds` so that a process killed meanwhile
resumes from the last save; the indexes are built once at the end, as the service's loader
builds its own. From then on the service's own `ChangeFollower` applies each change to
table and indexes together. An upstream that cannot be reached stops neither: the edge
serves what it has, and `/readyz` says how stale that is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt

from hashshare.audit.service import Outcome
from hashshare.auth.principal import Actor
from hashshare.changes.http_source import PAGE_LIMIT, HttpChangeSource, UpstreamError
from hashshare.config import Settings
from hashshare.edge import store
from hashshare.edge.copy import EdgeCopy
from hashshare.edge.hma.banks import LocalBanks
from hashshare.edge.hma.fetch import UrlFetcher
from hashshare.edge.hma.service import HmaService
from hashshare.edge.reports import CountReporter, HourlyCounts
from hashshare.hashing.service import ImageHasher, ImageService
from hashshare.matching.follower import ChangeFollower
from hashshare.matching.holder import IndexHolder
from hashshare.matching.service import MatchService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EdgeOptions:
    upstream: str
    token: str = field(repr=False)
    data: Path
    max_staleness_seconds: float = 300.0
    wait_seconds: float = 20.0  # long-poll of the central feed
    persist_seconds: float = 10.0
    page_limit: int = PAGE_LIMIT
    local_token: str | None = field(default=None, repr=False)
    snapshot: bool = True  # a first sync loads GET /v1/snapshot, then follows the feed
    fetch_hosts: tuple[str, ...] = ()  # hosts HMA's `url` parameters may fetch from
    report_counts: bool = False  # send match counts per hour and label upstream
    edge_id: str | None = None  # how reports name this edge (default: saved under data)


class MatchTally:
    """What the edge's matches amount to (the edge keeps no audit log); with
    `--report-counts`, also per hour and label, for the reporter to send upstream."""

    def __init__(self, copy: EdgeCopy) -> None:
        self.copy = copy
        self.hourly: HourlyCounts | None = None
        self.requests = 0
        self.queries = 0
        self.matched_queries = 0
        self.matches = 0

    async def record(
        self,
        actor: Actor,
        action: str,
        outcome: Outcome = Outcome.OK,
        target_ids: Iterable[int] = (),
        details: dict[str, Any] | None = None,
    ) -> None:
        details = details or {}
        self.requests += 1
        self.queries += int(details.get("queries", 0))
        self.matched_queries += int(details.get("matched_queries", 0))
        matches = int(details.get("matches", 0))
        self.matches += matches
        if self.hourly is not None and matches:
            held = self.copy.held
            self.hourly.add(matches, [held[i].labels for i in target_ids if i in held])

    def status(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "queries": self.queries,
            "matched_queries": self.matched_queries,
            "matches": self.matches,
        }


def token_member(token: str) -> str:
    """The member a token speaks for, to name the edge's callers (the service verifies it)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return "unknown"
    return str(claims.get("member") or "unknown")


class EdgeRuntime:
    def __init__(
        self,
        options: EdgeOptions,
        settings: Settings,
        transport: httpx.AsyncBaseTransport | None = None,
        fetch_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.options = options
        self.settings = settings
        self.member = token_member(options.token)
        self.holder = IndexHolder(hit_cache_size=0)  # every hit is in memory already
        self.copy = EdgeCopy(self.holder)
        self.source = HttpChangeSource(
            options.upstream,
            options.token,
            wait_seconds=options.wait_seconds,
            page_limit=options.page_limit,
            transport=transport,
        )
        self.follower = ChangeFollower(
            self.copy, self.source, options.wait_seconds, after_poll=self.holder.start_rebuilds
        )
        self.tally = MatchTally(self.copy)
        self.reporter: CountReporter | None = None
        self._transport = transport
        self._report_task: asyncio.Task[None] | None = None
        self.matches = MatchService(settings, self.holder, self.copy, self.tally)
        hasher = ImageHasher.from_settings(settings)
        self.images = ImageService(settings, hasher, self.matches)
        self.local = LocalBanks.open(options.data)
        self.hma = HmaService(
            settings,
            self.copy,
            self.matches,
            self.local,
            hasher,
            UrlFetcher(options.fetch_hosts, settings.max_upload_bytes, fetch_transport),
        )
        self.phase = "starting"
        self.resumed_from: int | None = None
        self.sync_seconds: float | None = None
        self._saved_contact: datetime | None = None
        self._task: asyncio.Task[None] | None = None
        self._saved_at = time.monotonic()
        self._saving: asyncio.Future[Path] | None = None

    async def start(self) -> None:
        saved = await asyncio.to_thread(store.load, self.options.data, self.options.upstream)
        if saved is not None:
            self.copy.held = saved.held
            self.copy.cursor = saved.cursor
            self.resumed_from = saved.cursor
            self._saved_contact = saved.last_contact_at
            log.info("edge copy loaded: %d hashes up to seq %d", len(saved.held), saved.cursor)
        if self.options.report_counts:
            counts = await asyncio.to_thread(
                HourlyCounts.load, self.options.data, self.options.edge_id
            )
            self.reporter = CountReporter(
                counts, self.options.upstream, self.options.token, self._transport
            )
            self.tally.hourly = counts
            self._report_task = asyncio.create_task(self._report(), name="hashshare-edge-reports")
        await self.source.start()
        self.phase = "syncing"
        self._task = asyncio.create_task(self._run(), name="hashshare-edge")

    async def stop(self) -> None:
        if self._report_task is not None:
            self._report_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._report_task
        if self.reporter is not None:
            await self.reporter.save()
            await self.reporter.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.follower.stop()
        await self.holder.stop()
        await self._saved()
        if self.copy.changed:
            await self._save()
        await self.source.stop()
        self.local.close()

    async def _run(self) -> None:
        started = time.perf_counter()
        if self.options.snapshot and self.copy.cursor == 0:
            await self._load_snapshot()
        await self._catch_up()
        await self.copy.build()
        self.sync_seconds = time.perf_counter() - started
        log.info(
            "edge ready: %d hashes up to seq %d in %.1f s",
            len(self.copy.held),
            self.copy.cursor,
            self.sync_seconds,
        )
        await self._save()
        self.follower.start_at(self.copy.cursor)
        self.follower.position.head_seq = max(self.source.head_seq, self.copy.cursor)
        await self.follower.start()
        self.phase = "following"
        while True:
            await asyncio.sleep(self.options.persist_seconds)
            if self.copy.changed:
                await self._save()

    async def _report(self) -> None:
        """Send completed hours as they come (and the unsent ones of earlier runs)."""
        assert self.reporter is not None
        while True:
            try:
                await self.reporter.tick()
            except Exception:
                log.exception("reporting match counts failed")
            await asyncio.sleep(self.options.persist_seconds)

    async def _load_snapshot(self) -> None:
        """A first sync: the whole set at once, then the feed from the snapshot's head."""
        copy, source = self.copy, self.source
        copy.held.clear()
        head = 0
        try:
            async for item in source.snapshot():
                if "head_seq" in item:
                    head = int(item["head_seq"])
                elif "hash_ids" in item:
                    copy.load_part(item)
                    if len(copy.held) % 500_000 < len(item["hash_ids"]):
                        log.info("edge snapshot: %d hashes", len(copy.held))
        except UpstreamError as exc:
            # Nothing of a cut snapshot is kept: its rows are complete only with its head.
            log.warning("edge snapshot failed, syncing from the feed instead: %s", exc)
            copy.held.clear()
            return
        copy.cursor = head
        copy.changed = True
        log.info("edge snapshot loaded: %d hashes as of seq %d", len(copy.held), head)

    async def _catch_up(self) -> None:
        copy, source = self.copy, self.source
        limit = self.options.page_limit
        last_log = time.monotonic()
        while True:
            try:
                entries = await source.after(copy.cursor, limit)
            except UpstreamError as exc:
                log.warning("edge catch-up stopped, serving what it holds: %s", exc)
                return
            copy.catch_up(entries)
            now = time.monotonic()
            if now - last_log >= 5:
                last_log = now
                log.info(
                    "edge sync: seq %d of %d, %d hashes",
                    copy.cursor,
                    source.head_seq,
                    len(copy.held),
                )
            if now - self._saved_at >= self.options.persist_seconds:
                await self._save()
            if len(entries) < limit or copy.cursor >= source.head_seq:
                return

    async def _save(self) -> None:
        await self._saved()
        copy = self.copy
        held, cursor = dict(copy.held), copy.cursor
        copy.changed = False
        self._saved_at = time.monotonic()
        self._saving = asyncio.ensure_future(
            asyncio.to_thread(
                store.save,
                self.options.data,
                held,
                cursor,
                self.options.upstream,
                self.last_contact_at,
            )
        )
        await self._saved()

    async def _saved(self) -> None:
        """Wait for the save under way, if any: one at a time, as a save whose task was
        cancelled (at shutdown) goes on writing in its thread."""
        saving = self._saving
        if saving is None:
            return
        await asyncio.wait({saving})  # unlike awaiting it, leaves it running if cancelled
        self._saving = None
        error = saving.exception()
        if isinstance(error, OSError):
            self.copy.changed = True
            log.error("could not save the edge copy under %s: %s", self.options.data, error)
        elif error is not None:
            raise error

    @property
    def last_contact_at(self) -> datetime | None:
        """When the central service last answered (or, before that, as the saved copy says)."""
        contact = self.source.last_contact
        if contact is None:
            return self._saved_contact
        return datetime.now(UTC) - timedelta(seconds=time.monotonic() - contact)

    def status(self) -> tuple[bool, dict[str, Any]]:
        """Readiness, and what /readyz reports."""
        contact = self.last_contact_at
        stale = None if contact is None else (datetime.now(UTC) - contact).total_seconds()
        following = self.phase == "following"
        feed = (
            self.follower.position.status()
            if following
            else {
                "applied_seq": self.copy.cursor,
                "head_seq": max(self.source.head_seq, self.copy.cursor),
                "behind": max(0, self.source.head_seq - self.copy.cursor),
                "behind_seconds": None,
                "last_poll_seconds_ago": None,
            }
        )
        fresh = stale is not None and stale <= self.options.max_staleness_seconds
        ready = following and self.holder.ready and fresh
        kernels = self.holder.kernels()
        body = {
            "status": "ready" if ready else ("stale" if following else self.phase),
            "upstream": self.options.upstream,
            "member": self.member,
            "feed": feed,
            "seconds_since_upstream": None if stale is None else round(stale, 3),
            "max_staleness_seconds": self.options.max_staleness_seconds,
            "resumed_from_seq": self.resumed_from,
            "sync_seconds": self.sync_seconds,
            "signal_types": {
                name: {"size": size, "kernel": kernels[name]}
                for name, size in self.holder.sizes().items()
            },
            "served": self.tally.status(),
            "reports": None if self.reporter is None else self.reporter.status(),
        }
        return ready, body
