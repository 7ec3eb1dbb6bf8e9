"""The migrations build exactly the schema the models describe, and can be undone."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from hashshare.db import create_engine
from hashshare.migrations import alembic_config, downgrade, upgrade
from hashshare.models import Base

APP_TABLES = {
    "audit_checkpoints",
    "audit_events",
    "audit_head",
    "changes",
    "contributions",
    "edge_reports",
    "feedback",
    "hashes",
    "members",
    "token_revocations",
}


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "compare_server_default": True},
    )
    return compare_metadata(context, Base.metadata)


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _schema(connection: Connection) -> dict[str, Any]:
    """Columns (name, type, nullable), indexes and unique constraints of every table."""
    inspector = inspect(connection)
    return {
        table: (
            [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            sorted((i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(table)),
            sorted(
                (u["name"], tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(table)
            ),
        )
        for table in sorted(inspector.get_table_names())
    }


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _run(url: str, work: Any) -> Any:
    """Run `work(connection)` on a fresh engine; sync, because `upgrade` runs its own loop."""
    return asyncio.run(_run_async(url, work))


async def _run_async(url: str, work: Any) -> Any:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(work)
    finally:
        await engine.dispose()


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    differences = _run(database_url, _differences)
    assert differences == [], f"models and migrations disagree: {differences}"


def test_models_cover_every_application_table() -> None:
    assert set(Base.metadata.tables) == APP_TABLES


def test_upgrade_creates_every_table_on_a_fresh_database(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    upgrade(url)
    assert _run(url, _tables) >= APP_TABLES


def test_downgrade_to_base_removes_every_table(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'down.db'}"
    upgrade(url)
    downgrade(url, "base")
    assert _run(url, _tables) & APP_TABLES == set()
    assert _run(url, _revision) is None


def test_upgrade_after_downgrade_rebuilds_the_same_schema_as_a_fresh_upgrade(
    tmp_path: Path,
) -> None:
    fresh = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    again = f"sqlite+aiosqlite:///{tmp_path / 'roundtrip.db'}"
    upgrade(fresh)
    upgrade(again)
    downgrade(again, "base")
    upgrade(again)
    assert _run(again, _revision) == _run(fresh, _revision)
    assert _run(again, _schema) == _run(fresh, _schema)


def _head(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def test_upgrade_brings_a_fresh_database_to_the_head_revision(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'head.db'}"
    upgrade(url)
    assert _run(url, _revision) == _head(url)


def test_upgrade_at_head_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'twice.db'}"
    upgrade(url)
    before = _run(url, _schema)
    upgrade(url)
    assert _run(url, _revision) == _head(url)
    assert _run(url, _schema) == before


def test_migration_history_is_linear() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://"))
    assert len(script.get_heads()) == 1
