"""Alembic environment: runs migrations over the async engine of the configured URL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from hashshare.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                # The mode the service runs in, set once here: it persists in the file, and
                # a service connection would otherwise switch it, which takes the file's
                # lock and fails at once if another connection is writing.
                await connection.exec_driver_sql("PRAGMA journal_mode=WAL")
                await connection.commit()
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def run_offline(url: str) -> None:
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


url = config.get_main_option("sqlalchemy.url")
assert url, "sqlalchemy.url is not configured"
if context.is_offline_mode():
    run_offline(url)
else:
    asyncio.run(_run_async(url))
