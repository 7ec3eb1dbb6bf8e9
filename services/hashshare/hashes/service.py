"""Submitting, reading and retracting hashes.

A submission is validated as a whole before anything is written: one bad item refuses the
batch. The same value contributed by several members is one hash with several
contributions; a hash with no active contribution left is `retracted` and stops matching.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hashshare.audit.service import record
from hashshare.auth.principal import Principal
from hashshare.auth.scopes import Scope
from hashshare.changes.entry import ChangeEntry
from hashshare.changes.service import ChangeService
from hashshare.config import Settings
from hashshare.db import UnitOfWork, utcnow
from hashshare.errors import NotFound, PermissionDenied, ValidationFailed
from hashshare.hashes.models import Contribution, Hash, HashStatus
from hashshare.hashes.repository import (
    HashRepository,
    HashState,
    Key,
    NewHash,
    SnapshotPart,
    StoredContribution,
)
from hashshare.hashes.schemas import (
    ContributionRecord,
    HashSubmission,
    OwnContribution,
    RetractResponse,
    SubmitResponse,
)
from hashshare.instruments import SUBMISSIONS
from hashshare.labels.taxonomy import LabelError, validate_labels
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


def _own(contribution: Contribution) -> OwnContribution:
    return OwnContribution(
        labels=contribution.labels,
        external_ref=contribution.external_ref,
        quality=contribution.quality,
        contributed_at=contribution.created_at,
        retracted_at=contribution.retracted_at,
    )


def _entries(states: Iterable[HashState], now: datetime) -> list[ChangeEntry]:
    """Hashes as they now are, for the change feed."""
    return [
        ChangeEntry(
            hash_id=state.id,
            signal_type=state.signal_type,
            value=state.value,
            status=state.status,
            labels=state.labels,
            contributors=state.contributors,
            changed_at=now,
        )
        for state in states
    ]


@dataclass(frozen=True, slots=True)
class HashDetail:
    """A stored hash as the caller may see it: its own contribution, and every contribution
    for callers with `audit:read`."""

    hash: Hash
    yours: OwnContribution | None
    everyone: list[ContributionRecord] | None


class HashService:
    """Submitting, reading and retracting hashes; the shared set's rows for other features."""

    def __init__(self, settings: Settings, changes: ChangeService) -> None:
        self._settings = settings
        self._changes = changes

    async def submit(
        self, uow: UnitOfWork, principal: Principal, items: list[HashSubmission]
    ) -> SubmitResponse:
        """Store a batch of contributions in the caller's transaction.

        Every statement is bounded by the batch: values not stored yet go in with their
        contribution's labels at once; only hashes stored before are re-derived from their
        contributions.
        """
        try:
            check_batch_size(len(items), self._settings.max_submit_items, "hashes")
            parsed = await _validate(items, self._settings)
        except ValidationFailed:
            SUBMISSIONS.labels("rejected").inc(len(items))
            raise
        repository = HashRepository(uow.session)
        await repository.prefer_index_lookups()
        await self._changes.lock(uow)
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
            HashState(
                hash_id, key[0], key[1], HashStatus.ACTIVE.value, 1, tuple(merged[key].labels)
            )
            for key, hash_id in sorted(inserted.items(), key=lambda entry: entry[1])
        ]
        await self._changes.append(uow, _entries(new_states, now))
        states = await repository.refresh_hashes(touched, now, contributed)
        await self._changes.append(uow, _entries(states.values(), now))

        # The answer as plain rows, validated once as a whole: a model per row, built and
        # checked one at a time, cost several times more for 10,000 of them.
        results: list[dict[str, Any]] = []
        reported: set[Key] = set()
        async for index, item in paced(enumerate(parsed)):
            key = (item.signal_type.name, item.value)
            # A value repeated within the batch is one contribution: later repeats are
            # `existing`.
            status = "existing" if key in reported else outcome[key]
            reported.add(key)
            results.append(
                {
                    "index": index,
                    "status": status,
                    "hash_id": hash_ids[key],
                    "signal_type": item.signal_type.name,
                    "value": item.signal_type.format(item.value),
                }
            )
        counts = Counter(result["status"] for result in results)
        for outcome_name, items_of_it in counts.items():
            SUBMISSIONS.labels(outcome_name).inc(items_of_it)
        response = SubmitResponse.model_validate(
            {
                "results": results,
                "created": counts.get("created", 0),
                "existing": counts.get("existing", 0),
                "updated": counts.get("updated", 0),
            }
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

    async def require(self, uow: UnitOfWork, hash_id: int) -> Hash:
        """The stored hash, or `hash_not_found`."""
        hash_row = await HashRepository(uow.session).get(hash_id)
        if hash_row is None:
            raise NotFound(f"no hash with id {hash_id}", code="hash_not_found")
        return hash_row

    async def detail(self, uow: UnitOfWork, principal: Principal, hash_id: int) -> HashDetail:
        """A hash as the caller may see it: others' references and identities stay hidden."""
        hash_row = await self.require(uow, hash_id)
        contributions = await HashRepository(uow.session).contributions_to(hash_id)
        mine = next((c for c in contributions if c.member_id == principal.member_id), None)
        everyone = None
        if principal.has(Scope.AUDIT_READ):
            everyone = [
                ContributionRecord(member_id=c.member_id, **_own(c).model_dump())
                for c in contributions
            ]
        return HashDetail(hash_row, _own(mine) if mine else None, everyone)

    async def retract(self, uow: UnitOfWork, principal: Principal, hash_id: int) -> RetractResponse:
        """Retract the caller's own contribution; the hash stops matching when none remain."""
        await self._changes.lock(uow)
        repository = HashRepository(uow.session)
        hash_row = await self.require(uow, hash_id)
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
            states = await repository.refresh_hashes([hash_id], retracted_at, set())
            await self._changes.append(uow, _entries(states.values(), retracted_at))
            status, contributors = states[hash_id].status, states[hash_id].contributors
        await record(
            uow.session,
            principal.actor,
            "hashes.retract",
            target_ids=[hash_id],
            details={
                "already_retracted": already,
                "contributors_left": contributors,
                "status": status,
            },
        )
        return RetractResponse(
            id=hash_id,
            status=status,
            contributors=contributors,
            retracted_at=retracted_at,
        )

    async def retract_everyone(self, uow: UnitOfWork, hash_id: int, now: datetime) -> str:
        """Retract every contribution to a hash (a dispute resolved against it); its status."""
        repository = HashRepository(uow.session)
        await repository.retract_all_contributions(hash_id, now)
        states = await repository.refresh_hashes([hash_id], now, set())
        await self._changes.append(uow, _entries(states.values(), now))
        return states[hash_id].status

    async def set_status(
        self,
        uow: UnitOfWork,
        hash_row: Hash,
        status: str,
        now: datetime,
        *,
        feedback_since: datetime | None = None,
    ) -> None:
        """Change a hash's status (disputes and their resolution) and record the change."""
        await HashRepository(uow.session).set_status(
            hash_row, status, now, feedback_since=feedback_since
        )
        state = HashState(
            hash_row.id,
            hash_row.signal_type,
            hash_row.value,
            status,
            hash_row.contributors,
            tuple(hash_row.labels),
        )
        await self._changes.append(uow, _entries([state], now))

    async def is_active_contributor(self, uow: UnitOfWork, hash_id: int, member_id: str) -> bool:
        return await HashRepository(uow.session).has_active_contribution(hash_id, member_id)

    async def disputed(self, uow: UnitOfWork, after_id: int | None, limit: int) -> Sequence[Hash]:
        """Disputed hashes in id order, after the id `after_id`."""
        return await HashRepository(uow.session).with_status(
            HashStatus.DISPUTED.value, after_id, limit
        )

    async def match_rows(self, uow: UnitOfWork, hash_ids: Sequence[int]) -> dict[int, Any]:
        """What a match reports of each hit, as plain rows."""
        return await HashRepository(uow.session).match_rows(hash_ids)

    async def snapshot(self, uow: UnitOfWork, chunk: int) -> AsyncIterator[SnapshotPart]:
        """Every matchable hash in id order, page by page, with what a copy keeps of it."""
        repository = HashRepository(uow.session)
        last_id = 0
        while True:
            page = await repository.snapshot_page(last_id, chunk)
            if not page:
                return
            for part in page:
                yield part
            last_id = max(part.ids[-1] for part in page)

    async def matchable(
        self, uow: UnitOfWork, chunk: int
    ) -> AsyncIterator[tuple[str, list[int], bytes]]:
        """Every matchable hash in id order, page by page: per signal type, ids and values."""
        repository = HashRepository(uow.session)
        last_id = 0
        while True:
            page = await repository.matchable_page(last_id, chunk)
            if not page:
                return
            for entry in page:
                yield entry
            last_id = max(page_ids[-1] for _, page_ids, _ in page)
