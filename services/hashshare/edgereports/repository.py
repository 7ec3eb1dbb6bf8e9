"""All SQL of edge reports."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from hashshare.db import UnitOfWork
from hashshare.edgereports.models import EdgeReport


class EdgeReportRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.session = uow.session

    async def insert_new(self, rows: Sequence[dict[str, Any]]) -> set[datetime]:
        """Insert the hours not recorded yet; return the hours this call inserted.

        `ON CONFLICT DO NOTHING` rather than a read first: two retries of one report racing
        each other insert each hour once."""
        insert = postgresql_insert if self.uow.postgresql else sqlite_insert
        statement = (
            insert(EdgeReport)
            .values(list(rows))
            .on_conflict_do_nothing(index_elements=["member_id", "edge_id", "hour"])
            .returning(EdgeReport.hour)
        )
        return {hour for (hour,) in await self.session.execute(statement)}

    async def recorded(
        self, member_id: str, edge_id: str, hours: Sequence[datetime]
    ) -> dict[datetime, EdgeReport]:
        rows = await self.session.scalars(
            select(EdgeReport).where(
                EdgeReport.member_id == member_id,
                EdgeReport.edge_id == edge_id,
                EdgeReport.hour.in_(hours),
            )
        )
        return {row.hour: row for row in rows}
