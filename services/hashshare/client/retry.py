"""When and how long to wait before trying a request again.

Retried: connection errors (refused, reset, closed mid-response, timeouts), 429 and 503
(also 502 and 504, which load balancers answer while a replica restarts). Never retried:
every other 4xx, which says the request itself is wrong. Every hashshare write is
idempotent (a resubmitted batch reports `existing`, a second retraction `already_retracted`),
so a request whose answer was lost can be sent again without duplicating anything.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Transport failures where the request may or may not have reached the service.
RETRY_EXCEPTIONS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter; `Retry-After` wins when the service sends it."""

    attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 300.0

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `retry` (1 for the first retry)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        ceiling = min(self.max_backoff, self.backoff * 2 ** (retry - 1))
        return random.uniform(0, ceiling)  # noqa: S311 (jitter, not secrecy)


NO_RETRY = RetryPolicy(attempts=1)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """`Retry-After` in seconds (either form of the header), or None."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def should_retry(response: httpx.Response) -> bool:
    return response.status_code in RETRY_STATUSES
