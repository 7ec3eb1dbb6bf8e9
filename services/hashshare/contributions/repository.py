"""All SQL of a member's own contributions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from hashshare.hashes.models import Contribution, Hash


async def own_contributions(
    session: AsyncSession, member_id: str, after: int, limit: int, include_retracted: bool
) -> Sequence[Row[Any]]:
    """Contributions of `member_id` with id above `after`, oldest first, with their hash."""
    query = (
        select(
            Contribution.id,
            Contribution.hash_id,
            Hash.signal_type,
            Hash.value,
            Contribution.labels,
            Contribution.external_ref,
            Contribution.quality,
            Hash.status,
            Contribution.created_at,
            Contribution.retracted_at,
        )
        .join(Hash, Hash.id == Contribution.hash_id)
        .where(Contribution.member_id == member_id, Contribution.id > after)
        .order_by(Contribution.id)
        .limit(limit)
    )
    if not include_retracted:
        query = query.where(Contribution.retracted_at.is_(None))
    rows: Sequence[Row[Any]] = (await session.execute(query)).all()  # type: ignore[assignment]
    return rows
