"""The match path: ask the in-memory index, fetch the hits' metadata once, record the event.

A query that matched nothing leaves no fingerprint of a lawful upload: its audit event keeps
only HMAC-SHA256(audit key, signal_type || 0x00 || hash bytes), so oversight can count and
correlate repeated queries without the service being able to tell what was queried.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from hashshare.audit.writer import AuditWriter
from hashshare.config import Settings
from hashshare.db import UnitOfWork
from hashshare.deps import Principal
from hashshare.hashes.models import HashStatus
from hashshare.hashes.repository import HashRepository
from hashshare.matching.holder import IndexHolder
from hashshare.matching.schemas import MatchHit, MatchQuery, MatchResponse, MatchResult
from hashshare.signals import SignalType
from hashshare.validation import ItemErrors, check_batch_size


@dataclass(frozen=True, slots=True)
class _Query:
    signal_type: SignalType
    value: bytes
    max_distance: int


def _validate(queries: list[MatchQuery], settings: Settings) -> list[_Query]:
    errors = ItemErrors()
    parsed: list[_Query] = []
    for index, query in enumerate(queries):
        hashed = errors.parse_hash(index, query.signal_type, query.value)
        if hashed is None:
            continue
        signal_type, value = hashed
        ceiling = settings.max_distance_ceilings.get(signal_type.name, 0)
        distance = query.max_distance
        if distance is None:
            distance = min(signal_type.default_max_distance, ceiling)
        elif distance < 0:
            errors.add(index, "max_distance", "invalid_max_distance", "must not be negative")
            continue
        elif distance > ceiling:
            errors.add(
                index,
                "max_distance",
                "max_distance_too_large",
                f"max_distance {distance} exceeds the ceiling {ceiling} for {signal_type.name}",
            )
            continue
        parsed.append(_Query(signal_type, value, distance))
    errors.raise_if_any("queries")
    return parsed


def query_digest(key: str, signal_type: str, value: bytes) -> str:
    """The keyed digest that stands in for an unmatched query in the audit log."""
    message = signal_type.encode() + b"\x00" + value
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


async def match(
    uow: UnitOfWork,
    settings: Settings,
    indexes: IndexHolder,
    principal: Principal,
    queries: list[MatchQuery],
    include_disputed: bool,
    audit: AuditWriter,
) -> MatchResponse:
    check_batch_size(len(queries), settings.max_match_queries, "queries")
    parsed = _validate(queries, settings)
    raw_hits = [indexes.search(q.signal_type.name, q.value, q.max_distance) for q in parsed]
    hit_ids = sorted({hash_id for hits in raw_hits for hash_id, _ in hits})
    rows = await HashRepository(uow.session).match_rows(hit_ids) if hit_ids else {}
    await uow.release()  # a match writes nothing; do not hold a connection while audited
    allowed = {HashStatus.ACTIVE.value}
    if include_disputed:
        allowed.add(HashStatus.DISPUTED.value)

    results: list[MatchResult] = []
    matched_ids: set[int] = set()
    for index, (query, hits) in enumerate(zip(parsed, raw_hits, strict=True)):
        matches = []
        for hash_id, distance in hits:
            row = rows.get(hash_id)
            if row is None or row.status not in allowed:
                continue
            matched_ids.add(hash_id)
            matches.append(
                MatchHit(
                    hash_id=hash_id,
                    signal_type=row.signal_type,
                    value=query.signal_type.format(row.value),
                    distance=distance,
                    labels=row.labels,
                    status=row.status,
                    contributors=row.contributors,
                )
            )
        results.append(
            MatchResult(
                index=index,
                signal_type=query.signal_type.name,
                max_distance=query.max_distance,
                matches=matches,
            )
        )
    matched_queries = sum(1 for result in results if result.matches)
    assert settings.audit_key is not None
    unmatched = [
        query_digest(settings.audit_key, query.signal_type.name, query.value)
        for query, result in zip(parsed, results, strict=True)
        if not result.matches
    ]
    await audit.record(
        principal.actor,
        "match",
        target_ids=matched_ids,
        details={
            "queries": len(parsed),
            "matched_queries": matched_queries,
            "matches": sum(len(result.matches) for result in results),
            "include_disputed": include_disputed,
            "unmatched_query_hmacs": unmatched,
        },
    )
    return MatchResponse(results=results, matched_queries=matched_queries)
