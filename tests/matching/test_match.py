"""POST /v1/match over HTTP: distances, defaults and ceilings, statuses, start-up loading."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from hashshare.config import Settings
from tests.conftest import Api

BEHAVIOUR = "attacker-manifesto"
# The query of most tests; hashes are placed at known distances from it.
QUERY = 0x3C5A_96F0_0F69_A5C3_1234_5678_9ABC_DEF0_0FED_CBA9_8765_4321_C3A5_690F_F096_5AC3
MD5 = "9e107d9d372bb6826bd81d3542a419d6"
SHA256 = "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"


def hex_of(value: int, bits: int = 256) -> str:
    return f"{value:0{bits // 4}x}"


def at_distance(distance: int, base: int = QUERY, bits: int = 256, shift: int = 0) -> str:
    """A value exactly `distance` bits from `base` (bits flipped from position `shift` up)."""
    mask = ((1 << distance) - 1) << shift
    assert mask < 1 << bits
    return hex_of(base ^ mask, bits)


def flip_one_bit(value: str) -> str:
    return hex_of(int(value, 16) ^ 1, len(value) * 4)


async def submit(
    api: Api, *values: str, signal_type: str = "pdq", member: str = "alpha"
) -> list[int]:
    """Contribute values; return their hash ids in order."""
    items = [{"signal_type": signal_type, "value": v, "labels": [BEHAVIOUR]} for v in values]
    response = await api.client.post("/v1/hashes", json={"hashes": items}, headers=api.auth(member))
    assert response.status_code == 200, response.text
    return [r["hash_id"] for r in response.json()["results"]]


async def match(api: Api, queries: list[dict[str, Any]], **options: Any) -> Any:
    return await api.client.post(
        "/v1/match",
        json={"queries": queries, **options},
        headers=api.auth("beta", "hashes:match"),
    )


async def match_ok(api: Api, queries: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    response = await match(api, queries, **options)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def query(value: str = hex_of(QUERY), signal_type: str = "pdq", **fields: Any) -> dict[str, Any]:
    return {"signal_type": signal_type, "value": value, **fields}


async def hits(api: Api, q: dict[str, Any], **options: Any) -> list[tuple[int, int]]:
    """(hash_id, distance) of the matches of one query."""
    body = await match_ok(api, [q], **options)
    return [(m["hash_id"], m["distance"]) for m in body["results"][0]["matches"]]


async def match_events(api: Api) -> int:
    rows = await api.sql("select count(*) from audit_events where action = 'match'")
    return int(rows[0][0])


# --- distances --------------------------------------------------------------------------


async def test_matches_are_ordered_by_distance(api: Api) -> None:
    far, near, middle = await submit(api, at_distance(20), at_distance(1), at_distance(5))

    assert await hits(api, query()) == [(near, 1), (middle, 5), (far, 20)]


async def test_matches_at_equal_distance_are_ordered_by_hash_id(api: Api) -> None:
    first, second = await submit(api, at_distance(3, shift=100), at_distance(3, shift=0))

    assert await hits(api, query()) == [(first, 3), (second, 3)]


async def test_match_reports_the_hash_and_its_metadata(api: Api) -> None:
    [hash_id] = await submit(api, at_distance(2))

    body = await match_ok(api, [query()])

    [result] = body["results"]
    assert (result["index"], result["signal_type"]) == (0, "pdq")
    assert result["matches"] == [
        {
            "hash_id": hash_id,
            "signal_type": "pdq",
            "value": at_distance(2),
            "distance": 2,
            "labels": [BEHAVIOUR],
            "status": "active",
            "contributors": 1,
        }
    ]
    assert body["matched_queries"] == 1


async def test_pdq_default_max_distance_is_31(api: Api) -> None:
    within, beyond = await submit(api, at_distance(31), at_distance(32))

    body = await match_ok(api, [query()])

    assert body["results"][0]["max_distance"] == 31
    assert [(m["hash_id"], m["distance"]) for m in body["results"][0]["matches"]] == [(within, 31)]
    assert beyond != within


@pytest.mark.parametrize(
    ("signal_type", "default"), [("phash", 3), ("dhash", 2), ("ahash", 0), ("whash", 1)]
)
async def test_64_bit_default_max_distance_comes_from_the_robustness_benchmark(
    api: Api, signal_type: str, default: int
) -> None:
    base = 0x0123_4567_89AB_CDEF
    within, _beyond = await submit(
        api,
        at_distance(default, base, 64),
        at_distance(default + 1, base, 64),
        signal_type=signal_type,
    )

    assert await hits(api, query(hex_of(base, 64), signal_type)) == [(within, default)]


async def test_explicit_max_distance_narrows_the_search(api: Api) -> None:
    near, _far = await submit(api, at_distance(4), at_distance(5))

    assert await hits(api, query(max_distance=4)) == [(near, 4)]


async def test_max_distance_at_the_ceiling_is_accepted(api: Api) -> None:
    [hash_id] = await submit(api, at_distance(64))

    assert await hits(api, query(max_distance=64)) == [(hash_id, 64)]


async def test_max_distance_over_the_ceiling_is_refused(api: Api) -> None:
    response = await match(api, [query(), query(max_distance=65)])

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_items"
    assert [(e["index"], e["field"], e["code"]) for e in error["details"]["errors"]] == [
        (1, "max_distance", "max_distance_too_large")
    ]


async def test_negative_max_distance_is_refused(api: Api) -> None:
    response = await match(api, [query(max_distance=-1)])

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_items"


async def test_upper_case_query_matches_and_values_come_back_lower_case(api: Api) -> None:
    [hash_id] = await submit(api, hex_of(QUERY))

    body = await match_ok(api, [query(hex_of(QUERY).upper())])

    [hit] = body["results"][0]["matches"]
    assert (hit["hash_id"], hit["distance"], hit["value"]) == (hash_id, 0, hex_of(QUERY))


# --- exact types ------------------------------------------------------------------------


@pytest.mark.parametrize(("signal_type", "value"), [("md5", MD5), ("sha256", SHA256)])
async def test_exact_types_match_only_the_same_value(
    api: Api, signal_type: str, value: str
) -> None:
    [hash_id] = await submit(api, value, signal_type=signal_type)

    assert await hits(api, query(value, signal_type)) == [(hash_id, 0)]
    assert await hits(api, query(flip_one_bit(value), signal_type)) == []


@pytest.mark.parametrize(("signal_type", "value"), [("md5", MD5), ("sha256", SHA256)])
async def test_exact_types_refuse_a_max_distance(api: Api, signal_type: str, value: str) -> None:
    response = await match(api, [query(value, signal_type, max_distance=1)])

    assert response.status_code == 422
    codes = [e["code"] for e in response.json()["error"]["details"]["errors"]]
    assert codes == ["max_distance_too_large"]


async def test_a_value_matches_only_hashes_of_its_own_signal_type(api: Api) -> None:
    [sha_id] = await submit(api, SHA256, signal_type="sha256")

    assert await hits(api, query(SHA256, "pdq")) == []
    [pdq_id] = await submit(api, SHA256, signal_type="pdq")
    assert await hits(api, query(SHA256, "sha256")) == [(sha_id, 0)]
    assert await hits(api, query(SHA256, "pdq")) == [(pdq_id, 0)]


# --- batches ----------------------------------------------------------------------------


async def test_batch_returns_one_result_per_query_in_order(api: Api) -> None:
    [pdq_id] = await submit(api, at_distance(3))
    [md5_id] = await submit(api, MD5, signal_type="md5")

    body = await match_ok(
        api,
        [query(), query(flip_one_bit(MD5), "md5"), query(MD5, "md5"), query(max_distance=2)],
    )

    results = body["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert [r["signal_type"] for r in results] == ["pdq", "md5", "md5", "pdq"]
    assert [[m["hash_id"] for m in r["matches"]] for r in results] == [[pdq_id], [], [md5_id], []]
    assert body["matched_queries"] == 2


async def test_empty_query_list_is_refused(api: Api) -> None:
    response = await match(api, [])

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "empty_batch"


async def test_too_many_queries_are_refused(
    database_url: str, api_factory: Callable[[Settings], Awaitable[Api]]
) -> None:
    small = await api_factory(
        Settings(dev_mode=True, database_url=database_url, max_match_queries=2)
    )
    await small.add_member("beta")

    assert (await match(small, [query(), query()])).status_code == 200
    response = await match(small, [query(), query(), query()])

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "too_many_items"


# --- statuses ---------------------------------------------------------------------------


async def set_status(api: Api, hash_id: int, status: str) -> None:
    await api.sql("update hashes set status = :status where id = :id", status=status, id=hash_id)


async def test_disputed_hashes_are_excluded_by_default(
    api: Api, api_factory: Callable[[Settings], Awaitable[Api]]
) -> None:
    disputed, active = await submit(api, at_distance(1), at_distance(2))
    await set_status(api, disputed, "disputed")
    restarted = await api_factory(api.settings)

    assert await hits(restarted, query()) == [(active, 2)]


async def test_disputed_hashes_are_included_on_request(
    api: Api, api_factory: Callable[[Settings], Awaitable[Api]]
) -> None:
    disputed, active = await submit(api, at_distance(1), at_distance(2))
    await set_status(api, disputed, "disputed")
    restarted = await api_factory(api.settings)

    body = await match_ok(restarted, [query()], include_disputed=True)

    found = [(m["hash_id"], m["status"]) for m in body["results"][0]["matches"]]
    assert found == [(disputed, "disputed"), (active, "active")]


async def test_include_disputed_must_be_a_boolean(api: Api) -> None:
    response = await match(api, [query()], include_disputed="yes")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


# --- start-up ---------------------------------------------------------------------------


async def test_index_is_loaded_at_start_up(
    api: Api, api_factory: Callable[[Settings], Awaitable[Api]]
) -> None:
    pdq_id, other_id = await submit(api, at_distance(4), at_distance(9, shift=200))
    [md5_id] = await submit(api, MD5, signal_type="md5")

    second = await api_factory(api.settings)

    assert await hits(second, query()) == [(pdq_id, 4), (other_id, 9)]
    assert await hits(second, query(MD5, "md5")) == [(md5_id, 0)]


async def test_retracted_hashes_are_not_loaded_at_start_up(
    api: Api, api_factory: Callable[[Settings], Awaitable[Api]]
) -> None:
    retracted, kept = await submit(api, at_distance(1), at_distance(2))
    response = await api.client.delete(f"/v1/hashes/{retracted}", headers=api.auth("alpha"))
    assert response.status_code == 200

    second = await api_factory(api.settings)

    assert await hits(second, query()) == [(kept, 2)]


# --- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(query("zz"), id="invalid-hash"),
        pytest.param(query(signal_type="sha1"), id="unknown-signal-type"),
        pytest.param(query(max_distance=65), id="max-distance-too-large"),
        pytest.param({"signal_type": "pdq", "value": 12}, id="wrong-json-type"),
    ],
)
async def test_invalid_query_is_refused_and_not_recorded_as_a_match(
    api: Api, bad: dict[str, Any]
) -> None:
    await submit(api, hex_of(QUERY))

    response = await match(api, [query(), bad])

    assert response.status_code == 422
    assert await match_events(api) == 0
    await match_ok(api, [query()])
    assert await match_events(api) == 1


async def test_invalid_query_reports_its_index_and_code(api: Api) -> None:
    response = await match(api, [query(), query("abc"), query(signal_type="sha1")])

    errors = response.json()["error"]["details"]["errors"]
    assert [(e["index"], e["field"], e["code"]) for e in errors] == [
        (1, "value", "invalid_hash"),
        (2, "signal_type", "unknown_signal_type"),
    ]


async def test_wrong_json_type_in_a_query_names_its_index(api: Api) -> None:
    response = await match(api, [query(), {"signal_type": "pdq", "value": 12}])

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert any(e["loc"][:4] == ["body", "queries", 1, "value"] for e in error["details"])


# --- what a match reports is never stale ------------------------------------------------
# Matches remember what they report of popular hashes (matching/hits.py); a change to such a
# hash must show in the very next match of the process that made it, and in other processes
# once they have applied it from the change feed.


async def relabel(api: Api, value: str, labels: list[str], member: str = "alpha") -> None:
    items = [{"signal_type": "pdq", "value": value, "labels": labels}]
    response = await api.client.post("/v1/hashes", json={"hashes": items}, headers=api.auth(member))
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["status"] == "updated"


async def dispute(api: Api, hash_id: int) -> None:
    body = {"verdict": "disagree", "reason": "not-terrorist-content"}
    response = await api.client.post(
        f"/v1/hashes/{hash_id}/feedback", json=body, headers=api.auth("beta", "hashes:feedback")
    )
    assert response.json()["status"] == "disputed", response.text


async def reported(api: Api) -> list[tuple[list[str], str, int]]:
    """(labels, status, contributors) of each match of the usual query."""
    body = await match_ok(api, [query()], include_disputed=True)
    return [(m["labels"], m["status"], m["contributors"]) for m in body["results"][0]["matches"]]


async def test_a_change_shows_in_the_next_match_of_the_process_that_made_it(api: Api) -> None:
    value = at_distance(2)
    [hash_id] = await submit(api, value)
    assert await reported(api) == [([BEHAVIOUR], "active", 1)]
    assert hash_id in api.app.state.runtime.holder.hits.lookup([hash_id])[0]

    await relabel(api, value, ["glorification-of-terrorist-acts"])
    assert await reported(api) == [(["glorification-of-terrorist-acts"], "active", 1)]

    await dispute(api, hash_id)  # a status change that leaves the index as it was
    assert await reported(api) == [(["glorification-of-terrorist-acts"], "disputed", 1)]


async def test_a_change_made_by_another_process_shows_once_its_feed_is_applied(
    api: Api, api_factory: Callable[[Settings], Awaitable[Api]]
) -> None:
    value = at_distance(2)
    [hash_id] = await submit(api, value)
    replica = await api_factory(api.settings)
    assert await reported(replica) == [([BEHAVIOUR], "active", 1)]

    await relabel(api, value, ["glorification-of-terrorist-acts"])
    await dispute(api, hash_id)

    deadline = time.monotonic() + 5
    while await reported(replica) != [(["glorification-of-terrorist-acts"], "disputed", 1)]:
        assert time.monotonic() < deadline, await reported(replica)
        await asyncio.sleep(0.05)
