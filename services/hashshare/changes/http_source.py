"""The central service's `GET /v1/changes` as a `ChangeSource`, for a copy kept elsewhere
(`hashshare edge`).

`wait` is a long-poll: one request that the service answers as soon as the feed moves past
the cursor (or when its wait is over). Its page is kept and handed to the follower's next
`after`, so a change costs one request, not two. A source that cannot reach the service
raises from `after` (the follower logs and retries) and sleeps in `wait`, and `last_contact`
tells how long ago the service last answered, which is what staleness is measured by.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import httpx
import orjson

from hashshare.changes.entry import ChangeEntry

log = logging.getLogger(__name__)

PAGE_LIMIT = 10_000  # the most GET /v1/changes returns at once
RETRY_SECONDS = 1.0


class UpstreamError(Exception):
    """The central service refused the request or could not be reached."""


def _entry(change: dict[str, Any]) -> ChangeEntry:
    return ChangeEntry(
        hash_id=int(change["hash_id"]),
        signal_type=change["signal_type"],
        value=bytes.fromhex(change["value"]),
        status=change["status"],
        labels=tuple(change["labels"]),
        contributors=int(change["contributors"]),
        changed_at=datetime.fromisoformat(change["changed_at"]),
        seq=int(change["seq"]),
    )


class HttpChangeSource:
    def __init__(
        self,
        base_url: str,
        token: str,
        wait_seconds: float = 20.0,
        page_limit: int = PAGE_LIMIT,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.wait_seconds = wait_seconds
        self.page_limit = page_limit
        self.last_contact: float | None = None  # monotonic time of the last answer
        self.head_seq = 0
        self._token = token
        self._timeout = timeout
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._cursor = 0  # after the last entry handed out
        self._kept: tuple[int, list[ChangeEntry]] | None = None  # a long-poll's page

    async def start(self) -> None:
        if self._client is not None:
            return
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self._token}", "Accept": "application/json"},
            timeout=httpx.Timeout(self._timeout + self.wait_seconds, connect=5.0),
            transport=self._transport,
        )

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _page(self, after: int, limit: int, wait: float = 0) -> list[ChangeEntry]:
        if self._client is None:
            await self.start()
        assert self._client is not None
        params: dict[str, Any] = {"after": str(after), "limit": min(limit, self.page_limit)}
        if wait > 0:
            params["wait"] = wait
        try:
            response = await self._client.get("/v1/changes", params=params)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"cannot reach {self.base_url}: {exc!r}") from None
        if response.status_code != 200:
            try:
                error = response.json()["error"]
                detail = f"{error['code']}: {error['message']}"
            except (ValueError, KeyError, TypeError):
                detail = response.text[:200]
            raise UpstreamError(f"{self.base_url} answered {response.status_code} ({detail})")
        page = orjson.loads(response.content)
        self.last_contact = time.monotonic()
        self.head_seq = int(page["head_seq"])
        return [_entry(change) for change in page["changes"]]

    async def snapshot(self) -> AsyncIterator[dict[str, Any]]:
        """The lines of `GET /v1/snapshot`, parsed (header, parts, end); raises if cut."""
        if self._client is None:
            await self.start()
        assert self._client is not None
        ended = False
        try:
            async with self._client.stream("GET", "/v1/snapshot") as response:
                if response.status_code != 200:
                    await response.aread()
                    raise UpstreamError(
                        f"{self.base_url} answered {response.status_code} to GET /v1/snapshot"
                    )
                async for line in response.aiter_lines():
                    if not line:
                        continue
                    item: dict[str, Any] = orjson.loads(line)
                    self.last_contact = time.monotonic()
                    if "head_seq" in item:
                        self.head_seq = max(self.head_seq, int(item["head_seq"]))
                    ended = bool(item.get("end"))
                    yield item
        except httpx.HTTPError as exc:
            raise UpstreamError(f"snapshot from {self.base_url} failed: {exc!r}") from None
        if not ended:
            raise UpstreamError(f"the snapshot from {self.base_url} was cut short")

    async def after(self, seq: int, limit: int) -> Sequence[ChangeEntry]:
        kept, self._kept = self._kept, None
        if kept is not None and kept[0] == seq:
            entries, rest = kept[1][:limit], kept[1][limit:]
            if rest:
                self._kept = (entries[-1].seq or seq, rest)
        else:
            entries = await self._page(seq, limit)
        if entries:
            self._cursor = entries[-1].seq or seq
        else:
            self._cursor = seq
        return entries

    async def head(self) -> int:
        """The head as of the last answer (every page carries it): no request of its own."""
        return max(self.head_seq, self._cursor)

    async def changed_at(self, seq: int) -> datetime | None:
        entries = await self._page(seq - 1, 1)
        return entries[0].changed_at if entries and entries[0].seq == seq else None

    async def wait(self, seconds: float) -> None:
        """Long-poll the service from the cursor; keep what it answers for `after`."""
        cursor = self._cursor
        try:
            entries = await self._page(
                cursor, self.page_limit, wait=min(seconds, self.wait_seconds)
            )
        except UpstreamError as exc:
            log.warning("change feed unreachable, serving the copy as it is: %s", exc)
            await asyncio.sleep(min(seconds, RETRY_SECONDS))
            return
        self._kept = (cursor, entries) if entries else None
