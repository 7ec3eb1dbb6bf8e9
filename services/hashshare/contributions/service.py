"""A member's own contributions, page by page, for `GET /v1/contributions`."""

from __future__ import annotations

from hashshare.auth.principal import Principal
from hashshare.contributions.repository import own_contributions
from hashshare.contributions.schemas import ContributionOut, ContributionPage
from hashshare.db import UnitOfWork


class ContributionService:
    async def page(
        self,
        uow: UnitOfWork,
        principal: Principal,
        after: int,
        limit: int,
        include_retracted: bool,
    ) -> ContributionPage:
        """Up to `limit` of the caller's member's contributions after the cursor `after`."""
        rows = await own_contributions(
            uow.session, principal.member_id, after, limit + 1, include_retracted
        )
        page = rows[:limit]
        return ContributionPage(
            contributions=[
                ContributionOut(
                    contribution_id=row.id,
                    hash_id=row.hash_id,
                    signal_type=row.signal_type,
                    value=bytes(row.value).hex(),
                    labels=list(row.labels),
                    external_ref=row.external_ref,
                    quality=row.quality,
                    hash_status=row.status,
                    contributed_at=row.created_at,
                    retracted_at=row.retracted_at,
                )
                for row in page
            ],
            next_cursor=str(page[-1].id) if page else str(after),
            has_more=len(rows) > limit,
        )
