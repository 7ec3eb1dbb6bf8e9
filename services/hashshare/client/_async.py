"""The asyncio client: the same operations as `Client`, awaited."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Container, Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from types import TracebackType
from typing import TypeVar

import httpx

from hashshare.audit.schemas import AuditEventOut, ChainVerdict
from hashshare.changes.schemas import ChangeOut, ChangePage
from hashshare.client import calls
from hashshare.client._sync import default_headers
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


class AsyncClient:
    """An asyncio client of one hashshare service; use it as an async context manager."""

    hash_image = staticmethod(hash_image)

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=default_headers(token),
            timeout=timeout,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _call(self, call: calls.Call[T]) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.request(
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
                await self._sleep(self.retry.delay(attempt))
                continue
            if should_retry(response) and attempt < self.retry.attempts:
                await self._sleep(self.retry.delay(attempt, retry_after_seconds(response)))
                continue
            if response.is_error:
                raise ApiError.from_response(response)
            return call.parse(response)

    async def submit(self, hashes: Iterable[calls.SubmissionLike]) -> SubmitResponse:
        return await self._call(calls.submit(hashes))

    async def get(self, hash_id: int) -> HashOut:
        return await self._call(calls.get(hash_id))

    async def retract(self, hash_id: int) -> RetractResponse:
        return await self._call(calls.retract(hash_id))

    async def feedback(
        self,
        hash_id: int,
        verdict: str,
        reason: str | None = None,
        comment: str | None = None,
    ) -> FeedbackOut:
        return await self._call(calls.feedback(hash_id, verdict, reason, comment))

    async def match(
        self, queries: Iterable[calls.QueryLike], include_disputed: bool = False
    ) -> MatchResponse:
        return await self._call(calls.match(queries, include_disputed))

    async def match_image(
        self,
        image: calls.ImageSource,
        signal_types: Iterable[str] | None = None,
        dihedral: bool = False,
        include_disputed: bool = False,
    ) -> ImageMatchResponse:
        return await self._call(calls.match_image(image, signal_types, dihedral, include_disputed))

    async def change_pages(
        self, after: str = "0", page_size: int = 1000
    ) -> AsyncIterator[ChangePage]:
        while True:
            page = await self._call(calls.changes(after, page_size))
            yield page
            after = page.next_cursor
            if not page.has_more:
                return

    async def changes(self, after: str = "0", page_size: int = 1000) -> AsyncIterator[ChangeOut]:
        async for page in self.change_pages(after, page_size):
            for change in page.changes:
                yield change

    async def contributions(
        self, after: str = "0", page_size: int = 1000, include_retracted: bool = False
    ) -> AsyncIterator[ContributionOut]:
        while True:
            page = await self._call(calls.contributions(after, page_size, include_retracted))
            for contribution in page.contributions:
                yield contribution
            after = page.next_cursor
            if not page.has_more:
                return

    async def audit_events(
        self,
        *,
        member: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[AuditEventOut]:
        cursor: str | None = None
        while True:
            page = await self._call(calls.audit(member, action, since, until, cursor, page_size))
            for event in page.events:
                yield event
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def verify_audit(self) -> ChainVerdict:
        return await self._call(calls.verify_audit())

    async def stats(self, since: datetime | None = None, until: datetime | None = None) -> Stats:
        return await self._call(calls.stats(since, until))

    async def _submit_batch(self, batch: SubmitBatch) -> SubmitBatch:
        positions = list(range(len(batch.items)))
        while positions:
            try:
                response = await self.submit(batch.items[p] for p in positions)
            except ApiError as error:
                positions = set_aside(batch, positions, error)
                continue
            batch.results = [
                r.model_copy(update={"index": positions[r.index]}) for r in response.results
            ]
            break
        return batch

    async def _match_batch(self, batch: MatchBatch, include_disputed: bool) -> MatchBatch:
        positions = list(range(len(batch.items)))
        while positions:
            try:
                response = await self.match([batch.items[p] for p in positions], include_disputed)
            except ApiError as error:
                positions = set_aside(batch, positions, error)
                continue
            batch.results = [replace(r, index=positions[r.index]) for r in response.results]
            break
        return batch

    async def _in_order(
        self, batches: Iterator[B], send: Callable[[B], Awaitable[B]], concurrency: int
    ) -> AsyncIterator[B]:
        in_flight: deque[asyncio.Task[B]] = deque()
        try:
            for batch in batches:
                in_flight.append(asyncio.ensure_future(send(batch)))
                if len(in_flight) >= max(1, concurrency):
                    yield await in_flight.popleft()
            while in_flight:
                yield await in_flight.popleft()
        finally:
            for task in in_flight:
                task.cancel()

    def submit_many(
        self,
        hashes: Iterable[calls.SubmissionLike],
        *,
        batch_size: int = DEFAULT_SUBMIT_BATCH,
        concurrency: int = DEFAULT_CONCURRENCY,
        skip: Container[int] = (),
    ) -> AsyncIterator[SubmitBatch]:
        """As `Client.submit_many`: batches in input order, `concurrency` in flight."""
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
    ) -> AsyncIterator[MatchBatch]:
        items = (calls.query(item) for item in queries)
        batches = (
            MatchBatch(number, number * batch_size, chunk)
            for number, chunk in enumerate(chunked(items, batch_size))
        )
        return self._in_order(
            batches, lambda batch: self._match_batch(batch, include_disputed), concurrency
        )
