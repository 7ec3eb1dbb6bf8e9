"""Python client of the hashshare API, on httpx.

```
from hashshare.client import Client

with Client("https://hashshare.example", token) as client:
    for batch in client.submit_many(rows, batch_size=2000, concurrency=2):
        print(batch.number, batch.count("created"), len(batch.rejected))
    hits = client.match([("pdq", "f8f8...")]).results[0].matches
```

`Client` blocks (thread-safe), `AsyncClient` awaits; both send the same requests
(`calls.py`), return the service's own pydantic models, raise `ApiError` carrying the
service's error code and details, and retry connection errors, 429 and 503 with backoff and
jitter, honouring `Retry-After` (`retry.py`). `hash_image` hashes locally with the service's
own pipeline: no network.
"""

from hashshare.audit.schemas import AuditEventOut, ChainVerdict
from hashshare.changes.schemas import ChangeOut, ChangePage
from hashshare.client._async import AsyncClient
from hashshare.client._sync import Client
from hashshare.client.batches import MatchBatch, Rejection, SubmitBatch
from hashshare.client.errors import ApiError, ClientError, ConnectionFailed
from hashshare.client.local import hash_image
from hashshare.client.retry import RetryPolicy
from hashshare.contributions.schemas import ContributionOut
from hashshare.feedback.schemas import FeedbackOut, HashOut
from hashshare.hashes.schemas import (
    HashSubmission,
    RetractResponse,
    SubmitResponse,
    SubmitResult,
)
from hashshare.hashing.schemas import HashValue, ImageMatchResponse
from hashshare.matching.schemas import MatchHit, MatchQuery, MatchResponse, MatchResult
from hashshare.stats.schemas import Stats

__all__ = [
    "ApiError",
    "AsyncClient",
    "AuditEventOut",
    "ChainVerdict",
    "ChangeOut",
    "ChangePage",
    "Client",
    "ClientError",
    "ConnectionFailed",
    "ContributionOut",
    "FeedbackOut",
    "HashOut",
    "HashSubmission",
    "HashValue",
    "ImageMatchResponse",
    "MatchBatch",
    "MatchHit",
    "MatchQuery",
    "MatchResponse",
    "MatchResult",
    "Rejection",
    "RetractResponse",
    "RetryPolicy",
    "Stats",
    "SubmitBatch",
    "SubmitResponse",
    "SubmitResult",
    "hash_image",
]
