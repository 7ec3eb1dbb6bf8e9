"""Submitting, reading and retracting hashes.

A submission is validated as a whole before anything is written: one bad item refuses the
batch. The same value contributed by several members is one hash with several
contributions; a hash with no active contribution left is `retracted` and stops matching.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from hashshare.audit.service import record
from hashshare.auth.scopes import Scope
from hashshare.changes.repository import ChangeRepository
from hashshare.config import Settings
from hashshare.db import UnitOfWork, utcnow
from hashshare.deps import Principal
from hashshare.errors import NotFound, PermissionDenied
from hashshare.feedback.repository import FeedbackRepository
from hashshare.feedback.service import count, yours
from hashshare.hashes.models import MATCHABLE_STATUSES, Contribution, HashStatus
from hashshare.hashes.repository import (
    HashRepository,
    HashState,
    Key,
    NewHash,
    StoredContribution,
)
from hashshare.hashes.schemas import (
    ContributionRecord,
    HashOut,
    HashSubmission,
    OwnContribution,
    RetractResponse,
    SubmitResponse,
    SubmitResult,
)
from hashshare.labels.taxonomy import LabelError, validate_labels
from hashshare.matching.holder import IndexHolder
from hashshare.signals import SignalType
from hashshare.validation import ItemErrors, check_batch_size, paced


@dataclass(frozen=True, slots=True)
class _Item:
    signal_type: SignalType
    value: bytes
    labels: list[str]
    external_ref: str | None
    quality: int | None
    # A field left out of the request keeps what is stored; an explicit null clears it.
    external_ref_given: bool
    quality_given: bool

    def merged_with(self, later: _Item) -> _Item:
        """One contribution from two repeats of a value within a batch."""
        return _Item(
            self.signal_type,
            self.value,
            sorted(set(self.labels) | set(later.labels)),
            self.external_ref or later.external_ref,
            self.quality if self.quality is not None else later.quality,
            self.external_ref_given or later.external_ref_given,
            self.quality_given or later.quality_given,
        )

    def fields(self, stored: StoredContribution | None) -> tuple[str | None, int | None]:
        """(external_ref, quality) of the contribution once this item is applied."""
        external_ref, quality = self.external_ref, self.quality
        if stored is not None and not self.external_ref_given:
            external_ref = stored.external_ref
        if stored is not None and not self.quality_given:
            quality = stored.quality
        return external_ref, quality


async def _validate(items: list[HashSubmission], settings: Settings) -> list[_Item]:
    errors = ItemErrors()
    parsed: list[_Item] = []
    async for index, item in paced(enumerate(items)):
        ok = True
        hashed = errors.parse_hash(index, item.signal_type, item.value, refuse_degenerate=True)
        try:
            labels = validate_labels(item.labels)
        except LabelError as exc:
            errors.add(index, "labels", exc.code, str(exc))
            ok = False
        if item.quality is not None:
            if not 0 <= item.quality <= 100:
                errors.add(index, "quality", "invalid_quality", "quality must be 0-100")
                ok = False
            elif hashed and hashed[0].name != "pdq":
                errors.add(index, "quality", "invalid_quality", "quality applies to pdq only")
                ok = False
            elif item.quality < settings.min_pdq_quality:
                errors.add(
                    index,
                    "quality",
                    "low_quality",
                    f"pdq quality {item.quality} is below the minimum "
                    f"{settings.min_pdq_quality}: the hash is too unreliable to share",
                )
                ok = False
        if hashed and ok:
            given = item.model_fields_set
            parsed.append(
                _Item(
                    hashed[0],
                    hashed[1],
                    labels,
                    item.external_ref,
                    item.quality,
                    "external_ref" in given,
                    "quality" in given,
                )
            )
    errors.raise_if_any("hashes")
    return parsed


async def submit(
    uow: UnitOfWork,
    settings: Settings,
    indexes: IndexHolder,
    principal: Principal,
    items: list[HashSubmission],
) -> SubmitResponse:
    """Store a batch of contributions in the caller's transaction.

    Every statement is bounded by the batch: values not stored yet go in with their
    contribution's labels at once; only hashes stored before are re-derived from their
    contributions.
    """
    check_batch_size(len(items), settings.max_submit_items, "hashes")
    parsed = await _validate(items, settings)
    repository = HashRepository(uow.session)
    await repository.prefer_index_lookups()
    await ChangeRepository(uow.session).lock_for_append()
    now = utcnow()

    # Repeats of one value within a batch merge into one contribution.
    merged: dict[Key, _Item] = {}
    async for item in paced(parsed):
        key = (item.signal_type.name, item.value)
        earlier = merged.get(key)
        merged[key] = item if earlier is None else earlier.merged_with(item)

    # Values not stored yet go in at once; the others are looked up.
    inserted, stored = await repository.store_new(
        [NewHash(key[0], key[1], item.labels) for key, item in merged.items()], now
    )
    hash_ids = {key: state.id for key, state in stored.items()}
    hash_ids.update(inserted)

    own = await repository.contributions_of(
        principal.member_id, [state.id for state in stored.values()]
    )
    outcome: dict[Key, str] = {}
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    contributed: set[int] = set()
    touched: list[int] = []
    async for key, item in paced(merged.items()):
        hash_id = hash_ids[key]
        contribution = own.get(hash_id)
        external_ref, quality = item.fields(contribution)
        fields = {"labels": item.labels, "external_ref": external_ref, "quality": quality}
        if contribution is None:
            inserts.append({"hash_id": hash_id, **fields})
            outcome[key] = "created"
        elif contribution.matches(item.labels, external_ref, quality):
            outcome[key] = "existing"
            continue
        else:
            outcome[key] = "created" if contribution.retracted_at is not None else "updated"
            updates.append(
                {"b_id": contribution.id, "retracted_at": None, "updated_at": now, **fields}
            )
        if key in inserted:
            continue  # stored above with this contribution's labels, status and count
        if outcome[key] == "created":
            contributed.add(hash_id)
        touched.append(hash_id)
    await repository.insert_contributions(principal.member_id, inserts, now)
    await repository.update_contributions(updates)
    new_states = [
        (HashState(hash_id, key[0], key[1], HashStatus.ACTIVE.value, 1), merged[key].labels)
        for key, hash_id in sorted(inserted.items(), key=lambda entry: entry[1])
    ]
    await repository.record_changes(new_states, now)
    states = await repository.refresh_hashes(touched, now, contributed)

    matchable = {status.value for status in MATCHABLE_STATUSES}
    to_index = [
        (state.signal_type, state.id, state.value)
        for state in [state for state, _ in new_states] + list(states.values())
        if state.status in matchable
    ]

    def update_index() -> None:
        for signal_type, hash_id, value in to_index:
            indexes.put(signal_type, hash_id, value)

    uow.on_commit(update_index)

    results = []
    reported: set[Key] = set()
    async for index, item in paced(enumerate(parsed)):
        key = (item.signal_type.name, item.value)
        # A value repeated within the batch is one contribution: later repeats are `existing`.
        status = "existing" if key in reported else outcome[key]
        reported.add(key)
        results.append(
            SubmitResult(
                index=index,
                status=status,
                hash_id=hash_ids[key],
                signal_type=item.signal_type.name,
                value=item.signal_type.format(item.value),
            )
        )
    counts = Counter(result.status for result in results)
    response = SubmitResponse(
        results=results,
        created=counts.get("created", 0),
        existing=counts.get("existing", 0),
        updated=counts.get("updated", 0),
    )
    await record(
        uow.session,
        principal.actor,
        "hashes.submit",
        target_ids=hash_ids.values(),
        details={
            "items": len(items),
            "created": response.created,
            "existing": response.existing,
            "updated": response.updated,
        },
    )
    return response


def _own(contribution: Contribution) -> OwnContribution:
    return OwnContribution(
        labels=contribution.labels,
        external_ref=contribution.external_ref,
        quality=contribution.quality,
        contributed_at=contribution.created_at,
        retracted_at=contribution.retracted_at,
    )


async def get_hash(uow: UnitOfWork, principal: Principal, hash_id: int) -> HashOut:
    """A hash as the caller may see it: others' references and identities stay hidden."""
    repository = HashRepository(uow.session)
    hash_row = await repository.get(hash_id)
    if hash_row is None:
        raise NotFound(f"no hash with id {hash_id}", code="hash_not_found")
    contributions = await repository.contributions_to(hash_id)
    mine = next((c for c in contributions if c.member_id == principal.member_id), None)
    everyone = None
    if principal.has(Scope.AUDIT_READ):
        everyone = [
            ContributionRecord(member_id=c.member_id, **_own(c).model_dump()) for c in contributions
        ]
    feedback = FeedbackRepository(uow.session)
    own_feedback = await feedback.of(hash_id, principal.member_id)
    counts = count(await feedback.current(hash_id, hash_row.feedback_since))
    return HashOut(
        id=hash_row.id,
        signal_type=hash_row.signal_type,
        value=hash_row.value.hex(),
        labels=hash_row.labels,
        status=hash_row.status,
        contributors=hash_row.contributors,
        first_contributed_at=hash_row.first_contributed_at,
        last_contributed_at=hash_row.last_contributed_at,
        your_contribution=_own(mine) if mine else None,
        feedback=counts,
        your_feedback=yours(own_feedback) if own_feedback else None,
        contributions=everyone,
    )


async def retract(
    uow: UnitOfWork, indexes: IndexHolder, principal: Principal, hash_id: int
) -> RetractResponse:
    """Retract the caller's own contribution; the hash stops matching when none remain."""
    await ChangeRepository(uow.session).lock_for_append()
    repository = HashRepository(uow.session)
    hash_row = await repository.get(hash_id)
    if hash_row is None:
        raise NotFound(f"no hash with id {hash_id}", code="hash_not_found")
    mine = (await repository.contributions_of(principal.member_id, [hash_id])).get(hash_id)
    if mine is None:
        raise PermissionDenied(
            "you can retract only your own contribution; this hash has none of yours",
            code="not_contributor",
        )
    already = mine.retracted_at is not None
    retracted_at = mine.retracted_at or utcnow()
    if already:
        status, contributors = hash_row.status, hash_row.contributors
    else:
        await repository.update_contributions(
            [
                {
                    "b_id": mine.id,
                    "labels": mine.labels,
                    "external_ref": mine.external_ref,
                    "quality": mine.quality,
                    "retracted_at": retracted_at,
                    "updated_at": retracted_at,
                }
            ]
        )
        state = (await repository.refresh_hashes([hash_id], retracted_at, set()))[hash_id]
        status, contributors = state.status, state.contributors
        if status == HashStatus.RETRACTED.value:
            signal_type = hash_row.signal_type
            uow.on_commit(lambda: indexes.discard(signal_type, hash_id))
    await record(
        uow.session,
        principal.actor,
        "hashes.retract",
        target_ids=[hash_id],
        details={"already_retracted": already, "contributors_left": contributors, "status": status},
    )
    return RetractResponse(
        id=hash_id,
        status=status,
        contributors=contributors,
        retracted_at=retracted_at,
    )
