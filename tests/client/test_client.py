"""`hashshare.client` against a running service: every operation, typed results and errors."""

from __future__ import annotations

import httpx
import pytest

from hashshare.client import (
    ApiError,
    AsyncClient,
    Client,
    HashOut,
    MatchResponse,
    SubmitResponse,
    hash_image,
)
from hashshare.hashing.hashers import hash_bytes
from tests.client.conftest import Live
from tests.hashing.pictures import encode, scene
from tests.values import far_pdq

pytestmark = pytest.mark.processes

LABELS = ["attacker-manifesto"]


def _rows(count: int, first: int = 1) -> list[dict[str, object]]:
    return [
        {"signal_type": "pdq", "value": far_pdq(n), "labels": LABELS, "external_ref": f"r{n}"}
        for n in range(first, first + count)
    ]


class CountingTransport(httpx.HTTPTransport):
    """A real transport that counts the requests it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent += 1
        return super().handle_request(request)


def test_every_operation_returns_the_services_own_models(live: Live) -> None:
    with (
        Client(live.url, live.token("alpha")) as alpha,
        Client(live.url, live.token("beta")) as beta,
    ):
        submitted = alpha.submit(_rows(3))
        assert isinstance(submitted, SubmitResponse)
        assert (submitted.created, submitted.existing) == (3, 0)
        first = submitted.results[0].hash_id

        got = alpha.get(first)
        assert isinstance(got, HashOut)
        assert got.your_contribution is not None
        assert got.your_contribution.external_ref == "r1"

        matched = beta.match([("pdq", far_pdq(1)), {"signal_type": "pdq", "value": far_pdq(9)}])
        assert isinstance(matched, MatchResponse)
        assert [len(result.matches) for result in matched.results] == [1, 0]
        assert matched.results[0].matches[0].hash_id == first

        opinion = beta.feedback(first, "disagree", reason="wrong-label")
        assert opinion.feedback.disagree == 1

        retracted = alpha.retract(submitted.results[1].hash_id)
        assert retracted.status == "retracted"

        changes = list(beta.changes(page_size=2))
        assert [change.kind for change in changes][-1] == "tombstone"
        assert {change.hash_id for change in changes} == {r.hash_id for r in submitted.results}

        actions = [event.action for event in alpha.audit_events(page_size=3)]
        assert "hashes.submit" in actions and "hashes.retract" in actions
        assert alpha.verify_audit().ok
        assert alpha.stats().hashes_by_status["retracted"] == 1


def test_match_image_and_local_hashing_agree(live: Live) -> None:
    image = encode(scene(seed=3), "JPEG")
    local = {value.signal_type: value for value in hash_image(image)}
    assert local["pdq"].value == hash_bytes(image).hex("pdq")
    with Client(live.url, live.token()) as client:
        client.submit([{"signal_type": "md5", "value": local["md5"].value, "labels": LABELS}])
        answer = client.match_image(image, signal_types=["md5", "pdq"])
    assert {value.signal_type: value.value for value in answer.hashes} == {
        "md5": local["md5"].value,
        "pdq": local["pdq"].value,
    }
    assert answer.matched_queries == 1


def test_a_refusal_carries_the_service_code_and_details_and_is_not_retried(live: Live) -> None:
    transport = CountingTransport()
    with Client(live.url, live.token(), transport=transport) as client:
        with pytest.raises(ApiError) as refused:
            client.submit([{"signal_type": "pdq", "value": "zz", "labels": LABELS}])
        assert refused.value.status == 422
        assert refused.value.code == "invalid_items"
        assert refused.value.details["errors"][0]["code"] == "invalid_hash"
        assert refused.value.request_id
        with pytest.raises(ApiError) as missing:
            client.get(987654)
        assert (missing.value.status, missing.value.code) == (404, "hash_not_found")
    assert transport.sent == 2


def test_a_bad_token_is_refused_once_with_its_code(live: Live) -> None:
    transport = CountingTransport()
    with (
        Client(live.url, "not-a-token", transport=transport) as client,
        pytest.raises(ApiError) as refused,
    ):
        client.stats()
    assert refused.value.status == 401
    assert refused.value.code == "malformed_token"
    assert transport.sent == 1


def test_submit_many_sets_aside_refused_items_and_stores_the_rest(live: Live) -> None:
    rows = _rows(5)
    rows[1] = {"signal_type": "pdq", "value": "00" * 32, "labels": LABELS}
    rows[3] = {"signal_type": "pdq", "value": far_pdq(77), "labels": ["no-such-label"]}
    with Client(live.url, live.token()) as client:
        batches = list(client.submit_many(rows, batch_size=2, concurrency=2))
    assert [(b.number, b.start, len(b.items)) for b in batches] == [(0, 0, 2), (1, 2, 2), (2, 4, 1)]
    rejected = [(b.start + r.index, r.code) for b in batches for r in b.rejected]
    assert rejected == [(1, "degenerate_hash"), (3, "unknown_label")]
    stored = [(b.start + r.index, r.status) for b in batches for r in b.results]
    assert stored == [(0, "created"), (2, "created"), (4, "created")]


def test_skipped_batches_are_not_sent(live: Live) -> None:
    with Client(live.url, live.token()) as client:
        sent = list(client.submit_many(_rows(6), batch_size=2, skip={0, 2}))
        assert [b.number for b in sent] == [1]
        assert client.stats().hashes_by_status == {"active": 2}


async def test_the_async_client_batches_in_order_with_bounded_concurrency(live: Live) -> None:
    async with AsyncClient(live.url, live.token()) as client:
        numbers = [b.number async for b in client.submit_many(_rows(7), batch_size=2)]
        assert numbers == [0, 1, 2, 3]
        matched = [
            (b.start + r.index, len(r.matches))
            async for b in client.match_many(
                [("pdq", far_pdq(n)) for n in (1, 50, 7)], batch_size=1, concurrency=3
            )
            for r in b.results
        ]
        assert matched == [(0, 1), (1, 0), (2, 1)]
        seqs = [change.seq async for change in client.changes(page_size=3)]
        assert len(seqs) == 7 and seqs == sorted(seqs)
        assert (await client.verify_audit()).ok
        with pytest.raises(ApiError) as refused:
            await client.retract(424242)
        assert refused.value.code == "hash_not_found"
