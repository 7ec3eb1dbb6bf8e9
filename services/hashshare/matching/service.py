"""The match path: ask the in-memory index, report the hits (from memory where it can: see
`hits.py`), record the event. Nothing here holds a database connection unless a hit's
details must be read.

A query that matched nothing leaves no fingerprint of a lawful upload: its audit event keeps
only HMAC-SHA256(audit key, signal_type || 0x00 || hash bytes), so oversight can count and
correlate repeated queries without the service being able to tell what was queried.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter as Tally
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from hashshare.audit.service import Outcome
from hashshare.auth.principal import Actor, Principal
from hashshare.config import Settings
from hashshare.hashes.models import HashStatus
from hashshare.instruments import count_matches
from hashshare.matching.details import HitDetails
from hashshare.matching.hits import HitRow
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


class MatchRecorder(Protocol):
    """Where a match's event goes: the audit log centrally (`AuditWriter`), a tally on an edge."""

    async def record(
        self,
        actor: Actor,
        action: str,
        outcome: Outcome = Outcome.OK,
        target_ids: Iterable[int] = (),
        details: dict[str, Any] | None = None,
    ) -> None: ...


class MatchService:
    def __init__(
        self,
        settings: Settings,
        holder: IndexHolder,
        details: HitDetails,
        audit: MatchRecorder,
    ) -> None:
        assert settings.audit_key is not None
        self._settings = settings
        self._audit_key = settings.audit_key
        self._holder = holder
        self._details = details
        self._audit = audit

    async def _hit_rows(self, hash_ids: list[int]) -> dict[int, HitRow]:
        """What to report of each hit: remembered ones, and the rest from `HitDetails`."""
        hits = self._holder.hits
        found, missing = hits.lookup(hash_ids)
        if missing:
            epoch = hits.epoch
            fresh = await self._details.rows(missing)
            hits.remember(fresh, epoch)
            found.update(fresh)
        return found

    async def match(
        self, principal: Principal, queries: list[MatchQuery], include_disputed: bool
    ) -> MatchResponse:
        check_batch_size(len(queries), self._settings.max_match_queries, "queries")
        parsed = _validate(queries, self._settings)
        search = self._holder.search
        raw_hits = [search(q.signal_type.name, q.value, q.max_distance) for q in parsed]
        hit_ids = sorted({hash_id for hits in raw_hits for hash_id, _ in hits})
        rows = await self._hit_rows(hit_ids) if hit_ids else {}
        allowed = {HashStatus.ACTIVE.value}
        if include_disputed:
            allowed.add(HashStatus.DISPUTED.value)

        results: list[MatchResult] = []
        matched_ids: set[int] = set()
        matched_queries = 0
        match_count = 0
        unmatched: list[str] = []
        lookups: Tally[str] = Tally()
        found: Tally[str] = Tally()
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
                        value=row.value,
                        distance=distance,
                        labels=list(row.labels),
                        status=row.status,  # type: ignore[arg-type]
                        contributors=row.contributors,
                    )
                )
            lookups[query.signal_type.name] += 1
            if matches:
                matched_queries += 1
                match_count += len(matches)
                found[query.signal_type.name] += 1
            else:
                unmatched.append(query_digest(self._audit_key, query.signal_type.name, query.value))
            results.append(
                MatchResult(
                    index=index,
                    signal_type=query.signal_type.name,
                    max_distance=query.max_distance,
                    matches=matches,
                )
            )
        count_matches(lookups, found)
        await self._audit.record(
            principal.actor,
            "match",
            target_ids=matched_ids,
            details={
                "queries": len(parsed),
                "matched_queries": matched_queries,
                "matches": match_count,
                "include_disputed": include_disputed,
                "unmatched_query_hmacs": unmatched,
            },
        )
        return MatchResponse(results=results, matched_queries=matched_queries)
