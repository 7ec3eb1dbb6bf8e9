"""Fetching a URL to hash it, as HMA's `url` parameters do, only from hosts the operator
allowed.

An edge runs inside the platform's network, where an address handed in by a caller may
reach internal services (server-side request forgery). So the edge fetches nothing unless
started with `--fetch-allow HOST` (repeatable): then only `http`/`https` URLs whose host is
one of those, or a subdomain of one, on the default or an explicit port; redirects are not
followed (a redirect could leave the allowed hosts); the body is read up to the upload limit
and never written to disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

TIMEOUT_SECONDS = 30.0


class FetchRefused(ValueError):
    """The URL may not be fetched, or fetching it failed; `code` says which."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class Fetched:
    data: bytes
    content_type: str


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    host = host.lower().rstrip(".")
    return any(host == entry or host.endswith("." + entry) for entry in allowed)


class UrlFetcher:
    def __init__(
        self,
        allowed_hosts: tuple[str, ...],
        max_bytes: int,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.allowed_hosts = tuple(host.lower().rstrip(".") for host in allowed_hosts if host)
        self.max_bytes = max_bytes
        self._transport = transport

    def check(self, url: str) -> None:
        """Refuse a URL the edge may not fetch (before any connection is made)."""
        if not self.allowed_hosts:
            raise FetchRefused(
                "url_fetch_disabled",
                "this edge fetches no URLs: upload the file instead, or start the edge with "
                "--fetch-allow HOST for the hosts it may fetch from",
                403,
            )
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
            parts.port  # noqa: B018 (raises ValueError on a malformed port)
        except ValueError:
            raise FetchRefused("invalid_url", "the URL is malformed", 400) from None
        if parts.scheme not in ("http", "https") or not host:
            raise FetchRefused("invalid_url", "only http and https URLs can be fetched", 400)
        if parts.username or parts.password:
            raise FetchRefused("invalid_url", "URLs with credentials are not fetched", 400)
        if not host_allowed(host, self.allowed_hosts):
            raise FetchRefused(
                "url_host_not_allowed",
                f"the edge may not fetch from {host[:100]!r} (allowed: "
                f"{', '.join(self.allowed_hosts)})",
                403,
            )

    async def fetch(self, url: str) -> Fetched:
        self.check(url)
        async with (
            httpx.AsyncClient(
                transport=self._transport, timeout=TIMEOUT_SECONDS, follow_redirects=False
            ) as client,
        ):
            try:
                async with client.stream("GET", url) as response:
                    if response.status_code != 200:
                        raise FetchRefused(
                            "url_fetch_failed",
                            f"fetching the URL answered HTTP {response.status_code}"
                            + (" (redirects are not followed)" if response.is_redirect else ""),
                            400,
                        )
                    declared = response.headers.get("content-length")
                    if declared is not None and declared.isdigit():
                        self._check_size(int(declared))
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        self._check_size(size)
                        chunks.append(chunk)
                    return Fetched(b"".join(chunks), response.headers.get("content-type", ""))
            except httpx.HTTPError as exc:
                raise FetchRefused(
                    "url_fetch_failed", f"fetching the URL failed: {type(exc).__name__}", 400
                ) from None

    def _check_size(self, size: int) -> None:
        if size > self.max_bytes:
            raise FetchRefused(
                "content_too_large", f"the content is over {self.max_bytes} bytes", 413
            )
