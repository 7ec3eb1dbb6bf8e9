"""Per-member request rate limits, a token bucket per member in each process.

A member may make `per_second` requests a second on average and `burst` at once; a request
beyond that is refused (429 `rate_limited`, with `Retry-After`) before its route runs. The
buckets live in the memory of each process: the limit holds **per replica** (and per worker
process), so N replicas behind a balancer admit up to N times it. Counting in the database
would put a write on every request's path, the match path included, which the service
refuses to do; divide the budget you want by the number of processes.

Refusals are audited without letting a flood flood the chain: the first refusal of a member
is recorded at once, and those that follow are counted and written as one event per member
every `audit_seconds`, carrying how many were refused (`details.refused`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from hashshare.audit.service import Outcome
from hashshare.audit.writer import AuditWriter
from hashshare.auth.principal import Actor
from hashshare.errors import RateLimited
from hashshare.periodic import Periodic

ACTION = "request.rate_limited"


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


@dataclass(slots=True)
class _Refusals:
    actor: Actor
    count: int = 0
    routes: dict[str, int] = field(default_factory=dict)


class RateLimiter:
    def __init__(
        self, per_second: float, burst: int, audit: AuditWriter, audit_seconds: float = 10.0
    ) -> None:
        self.per_second = per_second
        self.burst = burst
        self._audit = audit
        self._buckets: dict[str, _Bucket] = {}
        # Members refused since their last event; a member in here is not recorded at once.
        self._pending: dict[str, _Refusals] = {}
        self._auditor = Periodic("rate-limit audit", audit_seconds, self.flush)

    @property
    def enabled(self) -> bool:
        return self.per_second > 0

    def _retry_after(self, member_id: str) -> float | None:
        """Take one request from the member's bucket; None if allowed, else seconds to wait."""
        now = time.monotonic()
        bucket = self._buckets.get(member_id)
        if bucket is None:
            bucket = self._buckets[member_id] = _Bucket(float(self.burst), now)
        else:
            bucket.tokens = min(
                float(self.burst), bucket.tokens + (now - bucket.updated) * self.per_second
            )
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / self.per_second

    async def admit(self, actor: Actor, route: str) -> None:
        """Let the request through, or record the refusal and raise RateLimited."""
        member_id = actor.member_id
        if member_id is None or not self.enabled:
            return
        wait = self._retry_after(member_id)
        if wait is None:
            return
        error = RateLimited(
            f"more than {self.per_second:g} requests a second (burst {self.burst}) from member "
            f"{member_id!r}; retry later",
            retry_after=max(1, math.ceil(wait)),
        )
        pending = self._pending.get(member_id)
        if pending is None:
            self._pending[member_id] = _Refusals(actor)
            await self._audit.record(
                actor, ACTION, Outcome.DENIED, details=_details(1, {route: 1}, self)
            )
        else:
            pending.count += 1
            pending.routes[route] = pending.routes.get(route, 0) + 1
        error.audited = True
        raise error

    async def flush(self) -> None:
        """Write one event per member refused since its last one, and forget the quiet ones."""
        pending, self._pending = self._pending, {}
        for member_id, refusals in pending.items():
            if refusals.count:
                # Still refusing: the next refusal is counted too, not recorded at once.
                self._pending[member_id] = _Refusals(refusals.actor)
                await self._audit.record(
                    refusals.actor,
                    ACTION,
                    Outcome.DENIED,
                    details=_details(refusals.count, refusals.routes, self),
                )

    def start(self) -> None:
        if self.enabled:
            self._auditor.start()

    async def stop(self) -> None:
        """Stop, and record the refusals counted since the last event."""
        await self._auditor.stop()
        await self.flush()
        self._pending.clear()


def _details(refused: int, routes: dict[str, int], limiter: RateLimiter) -> dict[str, object]:
    return {
        "code": "rate_limited",
        "refused": refused,
        "routes": dict(sorted(routes.items())),
        "per_second": limiter.per_second,
        "burst": limiter.burst,
    }
