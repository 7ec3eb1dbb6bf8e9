"""What one running app holds, built once in its lifespan and kept on `app.state.runtime`.

Services are built here from their collaborators, so a service gets what it needs once, in
its constructor, and a request hands it only what belongs to the request (the unit of work,
the caller, the body).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from hashshare.audit.checkpoint import CheckpointError, CheckpointSigner, load_private_key
from hashshare.audit.schedule import CheckpointSchedule
from hashshare.audit.service import AuditService
from hashshare.audit.writer import AuditWriter
from hashshare.auth.tokens import TokenVerifier
from hashshare.changes.feed import FeedReader
from hashshare.changes.service import ChangeService
from hashshare.changes.source import DatabaseChangeSource
from hashshare.changes.watch import FeedWatch
from hashshare.config import ConfigError, Settings
from hashshare.contributions.service import ContributionService
from hashshare.db import Database
from hashshare.edgereports.service import EdgeReportService
from hashshare.feedback.service import FeedbackService
from hashshare.hashes.service import HashService
from hashshare.hashes.snapshot import SnapshotService
from hashshare.hashing.service import ImageHasher, ImageService
from hashshare.labels.service import ReferenceService
from hashshare.matching import mih
from hashshare.matching.details import DatabaseHitDetails
from hashshare.matching.follower import ChangeFollower
from hashshare.matching.holder import IndexHolder
from hashshare.matching.loader import load_indexes
from hashshare.matching.service import MatchService
from hashshare.members.access import AccessControl
from hashshare.members.service import MemberService
from hashshare.ratelimit import RateLimiter
from hashshare.stats.service import StatsService

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    database: Database
    # Reads that tolerate a replica's lag; the primary itself unless one is configured.
    read_database: Database
    verifier: TokenVerifier
    holder: IndexHolder
    audit: AuditWriter
    follower: ChangeFollower
    changes: ChangeService
    watch: FeedWatch
    feed: FeedReader
    hashes: HashService
    snapshots: SnapshotService
    feedback: FeedbackService
    matches: MatchService
    images: ImageService
    members: MemberService
    access: AccessControl
    limiter: RateLimiter
    audit_log: AuditService
    stats: StatsService
    reference: ReferenceService
    contributions: ContributionService
    edge_reports: EdgeReportService
    checkpoints: CheckpointSchedule | None

    @classmethod
    def build(cls, settings: Settings, verifier: TokenVerifier) -> Runtime:
        """Wire the components; nothing runs until `start`."""
        database = Database(settings.database_url, settings.sqlite_busy_timeout_seconds)
        read_database = database
        if settings.read_database_url is not None:
            read_database = Database(
                settings.read_database_url, settings.sqlite_busy_timeout_seconds
            )
        holder = IndexHolder(settings.hit_cache_size)
        audit = AuditWriter(database.engine)
        changes = ChangeService(holder)
        hashes = HashService(settings, changes)
        matches = MatchService(settings, holder, DatabaseHitDetails(database, hashes), audit)

        def after_poll() -> None:
            holder.start_rebuilds()
            watch.moved()

        follower = ChangeFollower(
            holder, DatabaseChangeSource(database), settings.feed_poll_seconds, after_poll
        )
        watch = FeedWatch(lambda: follower.position.applied_seq)
        signer = checkpoint_signer(settings)
        audit_log = AuditService(database, read_database, signer)
        schedule = None
        if signer is not None and settings.checkpoint_interval_minutes > 0:
            interval = timedelta(minutes=settings.checkpoint_interval_minutes)
            schedule = CheckpointSchedule(audit_log, interval)
        return cls(
            settings=settings,
            database=database,
            read_database=read_database,
            verifier=verifier,
            holder=holder,
            audit=audit,
            follower=follower,
            changes=changes,
            watch=watch,
            feed=FeedReader(database, changes, audit, watch, settings.feed_max_wait_seconds),
            hashes=hashes,
            snapshots=SnapshotService(database, hashes, changes, audit),
            feedback=FeedbackService(settings, hashes, changes),
            matches=matches,
            images=ImageService(settings, ImageHasher.from_settings(settings), matches),
            members=MemberService(),
            access=AccessControl(database, settings.access_refresh_seconds),
            limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst, audit),
            audit_log=audit_log,
            stats=StatsService(),
            reference=ReferenceService(settings),
            contributions=ContributionService(),
            edge_reports=EdgeReportService(),
            checkpoints=schedule,
        )

    async def start(self) -> None:
        """Load the index, then follow the feed from where the load read it."""
        head = await load_indexes(
            self.holder, self.database, self.hashes, self.changes, self.settings.index_load_chunk
        )
        self.follower.start_at(head)
        await self.follower.start()
        await self.access.start()
        await self.audit.start()
        self.limiter.start()
        if self.checkpoints is not None:
            self.checkpoints.start()

    async def stop(self) -> None:
        if self.checkpoints is not None:
            await self.checkpoints.stop()
        await self.limiter.stop()
        await self.audit.stop()
        await self.access.stop()
        await self.follower.stop()
        await self.holder.stop()
        await self.database.dispose()
        if self.read_database is not self.database:
            await self.read_database.dispose()


def checkpoint_signer(settings: Settings) -> CheckpointSigner | None:
    """The key that signs audit checkpoints: the configured file; in development mode
    without one, a key generated now (new in every process); otherwise none."""
    if settings.checkpoint_key_file is not None:
        try:
            return CheckpointSigner(load_private_key(settings.checkpoint_key_file))
        except CheckpointError as exc:
            raise ConfigError(str(exc)) from None
    if settings.dev_mode:
        return CheckpointSigner.generate()
    log.warning("no HASHSHARE_CHECKPOINT_KEY_FILE: audit checkpoints are not served")
    return None


def check_kernel(settings: Settings) -> str:
    """The name of the match kernel this process will use; outside development mode, refuse
    the numpy fallback (about 20 times slower) unless the settings allow it explicitly."""
    name = mih.default_kernel().name
    if name != "compiled":
        if not (settings.dev_mode or settings.allow_numpy_kernel):
            raise ConfigError(
                "the compiled match kernel (hashshare.matching._kernel) is not installed, and "
                "the numpy fallback is about 20 times slower: install hashshare from a wheel "
                "built with its setup.py, or set HASHSHARE_ALLOW_NUMPY_KERNEL=1 to accept it"
            )
        log.warning("match kernel: %s (the compiled kernel is not installed)", name)
    return name
