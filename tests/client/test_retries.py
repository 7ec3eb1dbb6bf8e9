"""When the client tries again: connection errors, 429 and 503 (after `Retry-After`), and
never other refusals. The service's side is played by an httpx transport here; the lost
answer of a real service is in test_dropped_connection.py."""

from __future__ import annotations

import httpx
import pytest

from hashshare.client import ApiError, AsyncClient, Client, ConnectionFailed, RetryPolicy
from hashshare.client.retry import retry_after_seconds

STATS = {
    "generated_at": "2026-12-01T00:00:00Z",
    "since": None,
    "until": None,
    "hashes_by_status": {"active": 1},
    "hashes_by_signal_type": {},
    "hashes_by_label": {},
    "contributions_by_member": {},
    "matches_by_day": [],
    "edge_matches_by_day": [],
    "disputes": {"opened": 0, "lifted": 0, "resolved": {}, "open_now": 0},
    "retractions": {
        "contributions_retracted": 0,
        "hashes_retracted_by_admin": 0,
        "hashes_retracted_now": 0,
    },
}


def _error(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"error": {"code": code, "message": code.replace("_", " "), "details": None}}
    return httpx.Response(status, json=body, headers=headers)


def _scripted(answers: list[httpx.Response | Exception]) -> tuple[httpx.MockTransport, list[str]]:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handle), seen


def test_503_and_429_are_retried_after_the_time_retry_after_asks() -> None:
    transport, seen = _scripted(
        [
            _error(503, "loading", {"Retry-After": "7"}),
            _error(429, "rate_limited", {"Retry-After": "2"}),
            httpx.Response(200, json=STATS),
        ]
    )
    waits: list[float] = []
    with Client("http://svc", "t", transport=transport, sleep=waits.append) as client:
        assert client.stats().hashes_by_status == {"active": 1}
    assert waits == [7.0, 2.0]
    assert len(seen) == 3


def test_connection_errors_are_retried_with_growing_jittered_backoff() -> None:
    refused = httpx.ConnectError("connection refused")
    transport, seen = _scripted(
        [refused, httpx.RemoteProtocolError("closed"), httpx.Response(200, json=STATS)]
    )
    waits: list[float] = []
    policy = RetryPolicy(attempts=5, backoff=1.0, max_backoff=30.0)
    with Client("http://svc", transport=transport, retry=policy, sleep=waits.append) as client:
        client.stats()
    assert len(seen) == 3
    assert 0 <= waits[0] <= 1.0 and 0 <= waits[1] <= 2.0


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "malformed_json"),
        (401, "invalid_token"),
        (403, "forbidden"),
        (404, "not_found"),
        (409, "conflict"),
        (413, "payload_too_large"),
        (422, "validation_error"),
    ],
)
def test_other_client_errors_are_raised_at_once(status: int, code: str) -> None:
    transport, seen = _scripted([_error(status, code), httpx.Response(200, json=STATS)])
    with (
        Client("http://svc", transport=transport, sleep=lambda _: None) as client,
        pytest.raises(ApiError) as raised,
    ):
        client.stats()
    assert (raised.value.status, raised.value.code) == (status, code)
    assert len(seen) == 1


def test_attempts_run_out_with_the_last_answer_or_a_connection_failure() -> None:
    transport, seen = _scripted([_error(503, "loading")] * 3)
    policy = RetryPolicy(attempts=3, backoff=0.001)
    with (
        Client("http://svc", transport=transport, retry=policy, sleep=lambda _: None) as client,
        pytest.raises(ApiError) as raised,
    ):
        client.stats()
    assert (raised.value.status, len(seen)) == (503, 3)

    with (
        Client(
            "http://127.0.0.1:9", retry=RetryPolicy(attempts=2, backoff=0.001), sleep=lambda _: None
        ) as client,
        pytest.raises(ConnectionFailed) as failed,
    ):
        client.stats()
    assert failed.value.attempts == 2


async def test_the_async_client_retries_the_same_way() -> None:
    transport, seen = _scripted(
        [_error(503, "loading", {"Retry-After": "3"}), httpx.Response(200, json=STATS)]
    )
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def handle(request: httpx.Request) -> httpx.Response:
        return transport.handle_request(request)

    async with AsyncClient(
        "http://svc", transport=httpx.MockTransport(handle), sleep=sleep
    ) as client:
        assert (await client.stats()).hashes_by_status == {"active": 1}
    assert waits == [3.0] and len(seen) == 2


def test_retry_after_may_be_an_http_date() -> None:
    response = httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert retry_after_seconds(response) == 0.0
    assert retry_after_seconds(httpx.Response(503, headers={"Retry-After": "12"})) == 12.0
    assert retry_after_seconds(httpx.Response(503)) is None
