"""Database plumbing: declarative base, engine, and the per-request unit of work.

A request gets one `UnitOfWork`. Services and repositories only `flush()`; the dependency
commits when the handler returns and rolls back when it raises. Side effects that must not
outlive a rolled-back transaction (updating the in-memory match index) are registered with
`on_commit` and run only after the commit succeeded.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, TypeDecorator, event
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite gives autoincrement only to INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


SQLITE_MMAP_BYTES = 4 * 2**30
SQLITE_CACHE_KIB = 64 * 1024


def _sqlite_pragmas(dbapi_connection: Any, connection_record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    # Reads through a memory map share the operating system's page cache between the pool's
    # connections; each connection's own cache (2 MB by default) is dropped whenever another
    # one writes, and a bulk submission looks up thousands of random keys.
    cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.close()


def create_engine(database_url: str) -> AsyncEngine:
    """Create the async engine; SQLite gets foreign keys, WAL and a busy timeout."""
    if database_url.startswith("sqlite"):
        # A pool as large as PostgreSQL's: with the default (5), bursts of concurrent requests
        # open and close overflow connections (a thread each, for aiosqlite) all the time.
        engine = create_async_engine(database_url, pool_size=10, max_overflow=20)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(database_url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


# Where `ChangeRepository.append` notes, in `session.info`, the hashes a transaction changed.
CHANGED_HASH_IDS = "hashshare.changed_hash_ids"


class UnitOfWork:
    """One transaction: a session plus callbacks to run once it has committed.

    `on_changed` is told, after the commit, which hashes the transaction put on the change
    feed (the app uses it to drop them from the match path's memory of hits).
    """

    def __init__(
        self, session: AsyncSession, on_changed: Callable[[set[int]], None] | None = None
    ) -> None:
        self.session = session
        self._on_changed = on_changed
        self._after_commit: list[Callable[[], None]] = []

    def on_commit(self, callback: Callable[[], None]) -> None:
        self._after_commit.append(callback)

    async def commit(self) -> None:
        await self.session.commit()
        changed: set[int] = self.session.info.pop(CHANGED_HASH_IDS, set())
        if changed and self._on_changed is not None:
            self._on_changed(changed)
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()

    async def rollback(self) -> None:
        self._after_commit.clear()
        self.session.info.pop(CHANGED_HASH_IDS, None)
        await self.session.rollback()
