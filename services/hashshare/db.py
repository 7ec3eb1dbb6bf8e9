"""Database plumbing: declarative base, engine, and the unit of work.

A request gets one `UnitOfWork` (`Database.unit()`). Services and repositories only
`flush()`; the unit commits when the handler returns and rolls back when it raises. Side
effects that must not outlive a rolled-back transaction (applying the transaction's changes
to the in-memory shared set) are registered with `on_commit` and run only after the commit
succeeded.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, DateTime, Integer, MetaData, TypeDecorator, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry

from hashshare.faults import database_unavailable

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


# Asked for; SQLite grants at most its build's SQLITE_MAX_MMAP_SIZE (2,147,418,112 bytes in
# Python's builds), so past about 2 GB of file the rest is read through the page cache below.
SQLITE_MMAP_BYTES = 4 * 2**30
SQLITE_CACHE_KIB = 64 * 1024


def _sqlite_pragmas(busy_timeout_ms: int) -> Callable[[Any, ConnectionPoolEntry], None]:
    def set_pragmas(dbapi_connection: Any, connection_record: ConnectionPoolEntry) -> None:
        _set_sqlite_pragmas(dbapi_connection, busy_timeout_ms)

    return set_pragmas


def _set_sqlite_pragmas(dbapi_connection: Any, busy_timeout_ms: int) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # Bounded: past it, a statement fails with "database is locked" (a 503 to the client).
    # Set first: switching a file to WAL takes its lock, and waits for another writer only
    # once the timeout is set.
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cursor.execute("PRAGMA journal_mode=WAL")
    # Reads through a memory map share the operating system's page cache between the pool's
    # connections; each connection's own cache (2 MB by default) is dropped whenever another
    # one writes, and a bulk submission looks up thousands of random keys.
    cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.close()


def is_postgresql(
    target: str | AsyncEngine | AsyncConnection | AsyncSession | Connection | Dialect,
) -> bool:
    """Whether `target` (a database URL, engine, connection, session or dialect) is
    PostgreSQL; the other backend is SQLite. The one way to ask."""
    if isinstance(target, str):
        return make_url(target).get_backend_name() == "postgresql"
    if isinstance(target, Dialect):
        return target.name == "postgresql"
    if isinstance(target, AsyncSession):
        return target.get_bind().dialect.name == "postgresql"
    return target.dialect.name == "postgresql"


async def pg_connect(url: str, connect_seconds: float = 10) -> Any:
    """A plain asyncpg connection (LISTEN, administration, COPY) to the PostgreSQL database
    a SQLAlchemy URL names."""
    import asyncpg

    target = make_url(url)
    return await asyncpg.connect(
        host=target.host,
        port=target.port or 5432,
        user=target.username,
        password=target.password,
        database=target.database,
        timeout=connect_seconds,
    )


@functools.lru_cache(maxsize=1024)
def labels_json(labels: tuple[str, ...]) -> str:
    """The JSON text of a label list; a bulk write repeats a few of them thousands of times."""
    return json.dumps(list(labels))


@functools.lru_cache(maxsize=1024)
def labels_from_json(text: str) -> tuple[str, ...]:
    """A label list from its stored JSON text (selected as text): a bulk read repeats a few
    of them thousands of times, and decoding each row's costs more than reading the row."""
    labels: list[str] = json.loads(text)
    return tuple(labels)


def stored_form(session: AsyncSession, column: Any, value: Any) -> Any:
    """`value` as `column`'s type stores it, computed once for a whole batch of rows (on
    SQLite, per-row type processing of 10,000 rows costs more than inserting them)."""
    dialect = session.get_bind().dialect
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process(value) if process else value


async def executemany(session: AsyncSession, statement: str, rows: list[tuple[Any, ...]]) -> None:
    """Run `statement` once per row, the rows handed to the driver as they are (SQLite:
    positional `?` parameters, values already in stored form). For 10,000 rows SQLAlchemy's
    per-row parameter processing took three times as long as the insert itself."""
    if rows:
        connection = await session.connection()
        await connection.exec_driver_sql(statement, rows)


def create_engine(database_url: str, sqlite_busy_timeout_seconds: float = 10.0) -> AsyncEngine:
    """Create the async engine; SQLite gets foreign keys, WAL and a busy timeout."""
    if not is_postgresql(database_url):
        # A pool as large as PostgreSQL's: with the default (5), bursts of concurrent requests
        # open and close overflow connections (a thread each, for aiosqlite) all the time.
        engine = create_async_engine(database_url, pool_size=10, max_overflow=20)
        busy_timeout_ms = round(sqlite_busy_timeout_seconds * 1000)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas(busy_timeout_ms))
        return engine
    return create_async_engine(database_url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


class UnitOfWork:
    """One transaction: a session plus callbacks to run once it has committed."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._after_commit: list[Callable[[], None]] = []

    @property
    def postgresql(self) -> bool:
        return is_postgresql(self.session)

    def on_commit(self, callback: Callable[[], None]) -> None:
        self._after_commit.append(callback)

    async def commit(self) -> None:
        """Commit, then run the callbacks in order, with nothing else running between them: a
        change feed follower let in between could apply this commit and a later change to
        the same hash, and a callback after it would put back the older state."""
        await self.session.commit()
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()

    async def rollback(self) -> None:
        self._after_commit.clear()
        await self.session.rollback()

    async def abandon(self, error: BaseException) -> None:
        """Roll back after `error`; when the error says the connection is broken (or the
        rollback does), discard the connection instead of returning it to the pool."""
        self._after_commit.clear()
        if not database_unavailable(error):
            try:
                await self.session.rollback()
                return
            except Exception as rollback_error:
                if not database_unavailable(rollback_error):
                    raise
        with contextlib.suppress(Exception):
            await self.session.invalidate()


class Database:
    """The engine and its sessions: the one way services reach the database."""

    def __init__(self, url: str, sqlite_busy_timeout_seconds: float = 10.0) -> None:
        self.url = url
        self.engine = create_engine(url, sqlite_busy_timeout_seconds)
        self.sessions = create_session_factory(self.engine)

    @property
    def postgresql(self) -> bool:
        return is_postgresql(self.url)

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[UnitOfWork]:
        """A transaction that commits if the block ends normally and rolls back if it raises."""
        async with self.sessions() as session:
            uow = UnitOfWork(session)
            try:
                yield uow
            except BaseException as error:
                await uow.abandon(error)
                raise
            try:
                await uow.commit()
            except BaseException as error:
                await uow.abandon(error)
                raise

    async def reachable(self, within_seconds: float) -> bool:
        """Whether a trivial query answers within that many seconds (for readiness)."""
        try:
            async with asyncio.timeout(within_seconds), self.engine.connect() as connection:
                await connection.exec_driver_sql("SELECT 1")
        except Exception as error:
            if isinstance(error, TimeoutError) or database_unavailable(error):
                return False
            raise
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()
