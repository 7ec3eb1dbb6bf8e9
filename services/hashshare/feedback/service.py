"""Feedback and the dispute rules.

A member gives one current verdict per hash (a new one replaces the old; both are audited);
a member cannot judge a hash it contributes. A hash becomes `disputed` when the members who
disagree reach a threshold (default 2, or 1 if the hash has a single contributor) and
outnumber those who agree; it is `active` again when that no longer holds. Disputed hashes
match only on request. An admin resolves a dispute: `reinstate` (active, and only feedback
given afterwards counts) or `retract` (every contribution retracted; it stops matching).
Every transition is audited and appended to the change feed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from hashshare.audit.service import record
from hashshare.auth.principal import Principal
from hashshare.changes.service import ChangeService
from hashshare.config import Settings
from hashshare.db import UnitOfWork, utcnow
from hashshare.errors import Conflict, PermissionDenied, ValidationFailed
from hashshare.feedback.models import Feedback, Reason, Verdict
from hashshare.feedback.repository import FeedbackRepository
from hashshare.feedback.schemas import (
    Dispute,
    DisputePage,
    DisputeVerdict,
    FeedbackCounts,
    FeedbackIn,
    FeedbackOut,
    HashOut,
    ResolutionIn,
    ResolutionOut,
    YourFeedback,
)
from hashshare.hashes.models import Hash, HashStatus
from hashshare.hashes.service import HashService
from hashshare.instruments import DISPUTES, FEEDBACK

REASONS = frozenset(reason.value for reason in Reason)


def count(feedback: Sequence[Feedback]) -> FeedbackCounts:
    disagreeing = [f for f in feedback if f.verdict == Verdict.DISAGREE.value]
    return FeedbackCounts(
        agree=sum(1 for f in feedback if f.verdict == Verdict.AGREE.value),
        disagree=len(disagreeing),
        disagree_by_reason=dict(Counter(f.reason or Reason.OTHER.value for f in disagreeing)),
    )


def is_disputed(settings: Settings, contributors: int, counts: FeedbackCounts) -> bool:
    threshold = (
        settings.dispute_min_disagreements_single_contributor
        if contributors == 1
        else settings.dispute_min_disagreements
    )
    return counts.disagree >= threshold and counts.disagree > counts.agree


def yours(feedback: Feedback) -> YourFeedback:
    return YourFeedback(
        verdict=feedback.verdict,
        reason=feedback.reason,
        comment=feedback.comment,
        updated_at=feedback.updated_at,
    )


def _check(body: FeedbackIn) -> None:
    if body.reason is not None and body.reason not in REASONS:
        raise ValidationFailed(
            f"unknown reason; use one of {', '.join(sorted(REASONS))}",
            code="unknown_reason",
            details={"reasons": sorted(REASONS)},
        )
    if body.verdict == Verdict.DISAGREE.value and body.reason is None:
        raise ValidationFailed("a disagreement needs a reason", code="reason_required")


class FeedbackService:
    """Verdicts on listings, the dispute rules, and the hash as members see it with them."""

    def __init__(self, settings: Settings, hashes: HashService, changes: ChangeService) -> None:
        self._settings = settings
        self._hashes = hashes
        self._changes = changes

    async def hash_with_feedback(
        self, uow: UnitOfWork, principal: Principal, hash_id: int
    ) -> HashOut:
        """A hash as the caller may see it, with the verdicts that count and its own."""
        detail = await self._hashes.detail(uow, principal, hash_id)
        hash_row = detail.hash
        repository = FeedbackRepository(uow.session)
        own_feedback = await repository.of(hash_id, principal.member_id)
        counts = count(await repository.current(hash_id, hash_row.feedback_since))
        return HashOut(
            id=hash_row.id,
            signal_type=hash_row.signal_type,
            value=hash_row.value.hex(),
            labels=hash_row.labels,
            status=hash_row.status,
            contributors=hash_row.contributors,
            first_contributed_at=hash_row.first_contributed_at,
            last_contributed_at=hash_row.last_contributed_at,
            your_contribution=detail.yours,
            feedback=counts,
            your_feedback=yours(own_feedback) if own_feedback else None,
            contributions=detail.everyone,
        )

    async def disputes(self, uow: UnitOfWork, after_id: int | None, limit: int) -> DisputePage:
        """The disputes queue: disputed hashes with the verdicts that count, a page at a time."""
        rows = await self._hashes.disputed(uow, after_id, limit)
        verdicts = await FeedbackRepository(uow.session).counted_for(
            {row.id: row.feedback_since for row in rows}
        )
        disputes = [
            Dispute(
                hash_id=row.id,
                signal_type=row.signal_type,
                value=row.value.hex(),
                labels=row.labels,
                contributors=row.contributors,
                updated_at=row.updated_at,
                feedback=count(verdicts[row.id]),
                verdicts=[
                    DisputeVerdict(
                        member_id=f.member_id,
                        verdict=f.verdict,
                        reason=f.reason,
                        comment=f.comment,
                        updated_at=f.updated_at,
                    )
                    for f in verdicts[row.id]
                ],
            )
            for row in rows
        ]
        next_cursor = str(rows[-1].id) if len(rows) == limit else None
        return DisputePage(disputes=disputes, next_cursor=next_cursor)

    async def _apply_rules(
        self, uow: UnitOfWork, principal: Principal, hash_row: Hash, now: datetime
    ) -> FeedbackCounts:
        counts = count(
            await FeedbackRepository(uow.session).current(hash_row.id, hash_row.feedback_since)
        )
        disputed = is_disputed(self._settings, hash_row.contributors, counts)
        transition = None
        if hash_row.status == HashStatus.ACTIVE.value and disputed:
            transition = (HashStatus.DISPUTED.value, "hash.disputed", "opened")
        elif hash_row.status == HashStatus.DISPUTED.value and not disputed:
            transition = (HashStatus.ACTIVE.value, "hash.undisputed", "withdrawn")
        if transition is not None:
            status, action, outcome = transition
            DISPUTES.labels(outcome).inc()
            await self._hashes.set_status(uow, hash_row, status, now)
            await record(
                uow.session,
                principal.actor,
                action,
                target_ids=[hash_row.id],
                details={"agree": counts.agree, "disagree": counts.disagree},
            )
        return counts

    async def give(
        self, uow: UnitOfWork, principal: Principal, hash_id: int, body: FeedbackIn
    ) -> FeedbackOut:
        _check(body)
        await self._changes.lock(uow)
        hash_row = await self._hashes.require(uow, hash_id)
        if hash_row.status == HashStatus.RETRACTED.value:
            raise Conflict(
                "this hash is retracted; there is nothing to judge", code="hash_retracted"
            )
        if await self._hashes.is_active_contributor(uow, hash_id, principal.member_id):
            raise PermissionDenied(
                "you contribute this hash; retract your contribution instead", code="own_hash"
            )
        repository = FeedbackRepository(uow.session)
        now = utcnow()
        feedback = await repository.of(hash_id, principal.member_id)
        replaced = None
        if feedback is None:
            feedback = Feedback(hash_id=hash_id, member_id=principal.member_id, created_at=now)
        else:
            replaced = {"verdict": feedback.verdict, "reason": feedback.reason}
        feedback.verdict = body.verdict
        feedback.reason = body.reason
        feedback.comment = body.comment
        feedback.updated_at = now
        await repository.save(feedback)
        FEEDBACK.labels(body.verdict).inc()
        await record(
            uow.session,
            principal.actor,
            "feedback.given",
            target_ids=[hash_id],
            details={"verdict": body.verdict, "reason": body.reason, "replaced": replaced},
        )
        counts = await self._apply_rules(uow, principal, hash_row, now)
        return FeedbackOut(
            hash_id=hash_id,
            status=hash_row.status,
            feedback=counts,
            your_feedback=yours(feedback),
        )

    async def resolve(
        self, uow: UnitOfWork, principal: Principal, hash_id: int, body: ResolutionIn
    ) -> ResolutionOut:
        """An admin's decision on a disputed hash."""
        await self._changes.lock(uow)
        hash_row = await self._hashes.require(uow, hash_id)
        previous = hash_row.status
        now = utcnow()
        if body.decision == "reinstate":
            if previous != HashStatus.DISPUTED.value:
                raise Conflict(f"the hash is {previous}, not disputed", code="not_disputed")
            await self._hashes.set_status(
                uow, hash_row, HashStatus.ACTIVE.value, now, feedback_since=now
            )
            status = HashStatus.ACTIVE.value
        else:
            if previous == HashStatus.RETRACTED.value:
                raise Conflict("the hash is already retracted", code="already_retracted")
            status = await self._hashes.retract_everyone(uow, hash_id, now)
        DISPUTES.labels("reinstated" if body.decision == "reinstate" else "retracted").inc()
        await record(
            uow.session,
            principal.actor,
            "dispute.resolved",
            target_ids=[hash_id],
            details={
                "decision": body.decision,
                "reason": body.reason,
                "previous_status": previous,
            },
        )
        return ResolutionOut(hash_id=hash_id, status=status, decision=body.decision)
