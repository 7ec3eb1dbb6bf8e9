"""A submission whose answer is lost on the way back is sent again, and the shared set ends
up with every hash exactly once: the service stored the first attempt, the retry finds it
`existing`."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from hashshare.client import Client, RetryPolicy
from tests.client.conftest import Live
from tests.client.proxy import DroppingProxy
from tests.test_cli import _rows
from tests.values import far_pdq

pytestmark = pytest.mark.processes

LABELS = ["glorification-of-terrorist-acts"]


def test_a_batch_whose_answer_was_lost_is_retried_without_duplicates_or_losses(
    live: Live,
) -> None:
    posts = 0

    def lose_the_second_submission(request_line: str) -> bool:
        nonlocal posts
        if request_line.startswith("POST /v1/hashes "):
            posts += 1
            return posts == 2
        return False

    rows = [{"signal_type": "pdq", "value": far_pdq(n), "labels": LABELS} for n in range(1, 301)]
    upstream = urlsplit(live.url).port
    assert upstream is not None
    with DroppingProxy(upstream, lose_the_second_submission) as proxy:
        # No connection kept alive: each request is one connection through the proxy.
        transport = httpx.HTTPTransport(limits=httpx.Limits(max_keepalive_connections=0))
        with Client(
            f"http://127.0.0.1:{proxy.port}",
            live.token(),
            transport=transport,
            retry=RetryPolicy(attempts=4, backoff=0.05),
        ) as client:
            batches = list(client.submit_many(rows, batch_size=100, concurrency=2))

    assert len(proxy.dropped) == 1
    assert sum(1 for line in proxy.forwarded if line.startswith("POST /v1/hashes ")) == 3
    statuses = {b.number: {r.status for r in b.results} for b in batches}
    # The lost batch was stored by its first attempt: its retry reports it `existing`.
    assert sorted(statuses.values(), key=sorted) == [{"created"}, {"created"}, {"existing"}]
    assert sorted(r.hash_id for b in batches for r in b.results) == sorted(
        {r.hash_id for b in batches for r in b.results}
    )
    assert _rows(live.database_url, "SELECT count(*) FROM hashes")[0][0] == 300
    assert _rows(live.database_url, "SELECT count(*) FROM contributions")[0][0] == 300
    stored = {bytes(row[0]).hex() for row in _rows(live.database_url, "SELECT value FROM hashes")}
    assert stored == {row["value"] for row in rows}
