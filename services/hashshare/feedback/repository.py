"""All SQL of feedback."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hashshare.feedback.models import Feedback


class FeedbackRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of(self, hash_id: int, member_id: str) -> Feedback | None:
        query = select(Feedback).where(Feedback.hash_id == hash_id, Feedback.member_id == member_id)
        return await self.session.scalar(query)

    async def current(self, hash_id: int, since: datetime | None) -> Sequence[Feedback]:
        """The verdicts that count: one per member, given after `since` if set."""
        query = select(Feedback).where(Feedback.hash_id == hash_id)
        if since is not None:
            query = query.where(Feedback.updated_at >= since)
        return (await self.session.scalars(query)).all()

    async def counted_for(self, since: dict[int, datetime | None]) -> dict[int, list[Feedback]]:
        """For each hash id, the verdicts that count (given after its `since`), newest first."""
        counted: dict[int, list[Feedback]] = {hash_id: [] for hash_id in since}
        if not since:
            return counted
        query = select(Feedback).where(Feedback.hash_id.in_(list(since)))
        for feedback in await self.session.scalars(query.order_by(Feedback.updated_at.desc())):
            start = since[feedback.hash_id]
            if start is None or feedback.updated_at >= start:
                counted[feedback.hash_id].append(feedback)
        return counted

    async def save(self, feedback: Feedback) -> Feedback:
        self.session.add(feedback)
        await self.session.flush()
        return feedback
