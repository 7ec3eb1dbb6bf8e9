"""The blocking client."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Container, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from types import TracebackType
from typing import TypeVar

import httpx

from hashshare import __version__
from hashshare.audit.schemas import AuditEventOut, ChainVerdict
from hashshare.changes.schemas import ChangeOut, ChangePage
from hashshare.client import calls
from hashshare.client.batches import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MATCH_BATCH,
    DEFAULT_SUBMIT_BATCH,
    MatchBatch,
    SubmitBatch,
    chunked,
    set_aside,
)
from hashshare.client.errors import ApiError, ConnectionFailed
from hashshare.client.local import hash_image
from hashshare.client.retry import (
    RETRY_EXCEPTIONS,
    RetryPolicy,
    retry_after_seconds,
    should_retry,
)
from hashshare.contributions.schemas import ContributionOut
from hashshare.feedback.schemas import FeedbackOut, HashOut
from hashshare.hashes.schemas import RetractResponse, SubmitResponse
from hashshare.hashing.schemas import ImageMatchResponse
from hashshare.matching.schemas import MatchResponse
from hashshare.stats.schemas import Stats

T = TypeVar("T")
B = TypeVar("B", SubmitBatch, MatchBatch)
USER_AGENT = f"hashshare-client/{__version__}"


def default_headers(token: str | None) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


class Client:
    """A blocking client of one hashshare service. Thread-safe; use it as a context manager."""

    hash_image = staticmethod(hash_image)

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=default_headers(token),
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, call: calls.Call[T]) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.request(
                    call.method,
                    call.path,
                    params=call.params,
                    json=call.json,
                    files=call.files,
                    data=call.data,
                )
            except RETRY_EXCEPTIONS as exc:
                if attempt >= self.retry.attempts:
                    raise ConnectionFailed(
                        f"{call.method} {call.path} failed {attempt} times: {exc!r}", attempt
                    ) from exc
                self._sleep(self.retry.delay(attempt))
                continue
            if should_retry(response) and attempt < self.retry.attempts:
                self._sleep(self.retry.delay(attempt, retry_after_seconds(response)))
                continue
            if response.is_error:
                raise ApiError.from_response(response)
            return call.parse(response)

    # Hashes

    def submit(self, hashes: Iterable[calls.SubmissionLike]) -> SubmitResponse:
        """Contribute one batch (up to the service's limit, 10,000 by default), all or none."""
        return self._call(calls.submit(hashes))

    def get(self, hash_id: int) -> HashOut:
        return self._call(calls.get(hash_id))

    def retract(self, hash_id: int) -> RetractResponse:
        """Retract your contribution (again is harmless: `already_retracted` in the audit)."""
        return self._call(calls.retract(hash_id))

    def feedback(
        self,
        hash_id: int,
        verdict: str,
        reason: str | None = None,
        comment: str | None = None,
    ) -> FeedbackOut:
        return self._call(calls.feedback(hash_id, verdict, reason, comment))

    # Matching

    def match(
        self, queries: Iterable[calls.QueryLike], include_disputed: bool = False
    ) -> MatchResponse:
        """Match one batch of queries (up to 1,000 by default)."""
        return self._call(calls.match(queries, include_disputed))

    def match_image(
        self,
        image: calls.ImageSource,
        signal_types: Iterable[str] | None = None,
        dihedral: bool = False,
        include_disputed: bool = False,
    ) -> ImageMatchResponse:
        """Send an image to be hashed by the service and matched (it is not stored)."""
        return self._call(calls.match_image(image, signal_types, dihedral, include_disputed))

    # Feeds

    def change_pages(self, after: str = "0", page_size: int = 1000) -> Iterator[ChangePage]:
        """Pages of the change feed after cursor `after`, until caught up."""
        while True:
            page = self._call(calls.changes(after, page_size))
            yield page
            after = page.next_cursor
            if not page.has_more:
                return

    def changes(self, after: str = "0", page_size: int = 1000) -> Iterator[ChangeOut]:
        """Every change after cursor `after`, in sequence order."""
        for page in self.change_pages(after, page_size):
            yield from page.changes

    def contributions(
        self, after: str = "0", page_size: int = 1000, include_retracted: bool = False
    ) -> Iterator[ContributionOut]:
        """Your member's own contributions, oldest first, with your references."""
        while True:
            page = self._call(calls.contributions(after, page_size, include_retracted))
            yield from page.contributions
            after = page.next_cursor
            if not page.has_more:
                return

    def audit_events(
        self,
        *,
        member: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        page_size: int = 100,
    ) -> Iterator[AuditEventOut]:
        """The audit log, newest first, across pages."""
        cursor: str | None = None
        while True:
            page = self._call(calls.audit(member, action, since, until, cursor, page_size))
            yield from page.events
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def verify_audit(self) -> ChainVerdict:
        return self._call(calls.verify_audit())

    def stats(self, since: datetime | None = None, until: datetime | None = None) -> Stats:
        return self._call(calls.stats(since, until))

    # Many at once

    def _submit_batch(self, batch: SubmitBatch) -> SubmitBatch:
        positions = list(range(len(batch.items)))
        while positions:
            try:
                response = self.submit(batch.items[p] for p in positions)
            except ApiError as error:
                positions = set_aside(batch, positions, error)
                continue
            batch.results = [
                r.model_copy(update={"index": positions[r.index]}) for r in response.results
            ]
            break
        return batch

    def _match_batch(self, batch: MatchBatch, include_disputed: bool) -> MatchBatch:
        positions = list(range(len(batch.items)))
        while positions:
            try:
                response = self.match([batch.items[p] for p in positions], include_disputed)
            except ApiError as error:
                positions = set_aside(batch, positions, error)
                continue
            batch.results = [replace(r, index=positions[r.index]) for r in response.results]
            break
        return batch

    def _in_order(
        self, batches: Iterator[B], send: Callable[[B], B], concurrency: int
    ) -> Iterator[B]:
        pool = ThreadPoolExecutor(max_workers=max(1, concurrency))
        in_flight: deque[Future[B]] = deque()
        try:
            for batch in batches:
                in_flight.append(pool.submit(send, batch))
                if len(in_flight) >= concurrency:
                    yield in_flight.popleft().result()
            while in_flight:
                yield in_flight.popleft().result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def submit_many(
        self,
        hashes: Iterable[calls.SubmissionLike],
        *,
        batch_size: int = DEFAULT_SUBMIT_BATCH,
        concurrency: int = DEFAULT_CONCURRENCY,
        skip: Container[int] = (),
    ) -> Iterator[SubmitBatch]:
        """Submit any number of hashes in batches, `concurrency` in flight; batches come back
        in input order, with refused items set aside. Batches numbered in `skip` (already
        acknowledged in an earlier run) are not sent."""
        items = (calls.submission(item) for item in hashes)
        batches = (
            SubmitBatch(number, number * batch_size, chunk)
            for number, chunk in enumerate(chunked(items, batch_size))
            if number not in skip
        )
        return self._in_order(batches, self._submit_batch, concurrency)

    def match_many(
        self,
        queries: Iterable[calls.QueryLike],
        *,
        include_disputed: bool = False,
        batch_size: int = DEFAULT_MATCH_BATCH,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> Iterator[MatchBatch]:
        """Match any number of queries in batches, `concurrency` in flight, in input order."""
        items = (calls.query(item) for item in queries)
        batches = (
            MatchBatch(number, number * batch_size, chunk)
            for number, chunk in enumerate(chunked(items, batch_size))
        )
        return self._in_order(
            batches, lambda batch: self._match_batch(batch, include_disputed), concurrency
        )
