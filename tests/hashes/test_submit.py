"""POST /v1/hashes: members contribute hashes, all or none, idempotently."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from hashshare.config import Settings
from tests.conftest import Api
from tests.values import pdq_value

BEHAVIOUR = "attacker-manifesto"
OTHER_BEHAVIOUR = "glorification-of-terrorist-acts"

# A valid value of every signal type of the design, and its hex length.
VALID_VALUES = {
    "pdq": "f" * 8 + "0123456789abcdef" * 3 + "00000000",
    "phash": "c3a5e1f00f1e5a3c",
    "dhash": "0f0f0f0f1e1e1e1e",
    "ahash": "ffff0000ffff0000",
    "whash": "8181818181818181",
    "md5": "9e107d9d372bb6826bd81d3542a419d6",
    "sha256": "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592",
}


def pdq(n: int) -> str:
    """A distinct, valid PDQ value for each n."""
    return pdq_value(n)


def item(value: str, signal_type: str = "pdq", **fields: Any) -> dict[str, Any]:
    return {"signal_type": signal_type, "value": value, "labels": [BEHAVIOUR], **fields}


async def submit(api: Api, items: list[dict[str, Any]], member: str = "alpha") -> Any:
    return await api.client.post("/v1/hashes", json={"hashes": items}, headers=api.auth(member))


async def submitted(api: Api, items: list[dict[str, Any]], member: str = "alpha") -> Any:
    response = await submit(api, items, member)
    assert response.status_code == 200, response.text
    return response.json()


async def read_hash(api: Api, hash_id: int, member: str = "alpha") -> dict[str, Any]:
    response = await api.client.get(f"/v1/hashes/{hash_id}", headers=api.auth(member))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def stored(api: Api) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every row of hashes and contributions, to compare before and after a request."""
    hashes = await api.sql("select * from hashes order by id")
    contributions = await api.sql("select * from contributions order by id")
    return [tuple(row) for row in hashes], [tuple(row) for row in contributions]


async def count(api: Api, table: str) -> int:
    rows = await api.sql(f"select count(*) from {table}")  # noqa: S608
    return int(rows[0][0])


def item_errors(response: Any) -> list[tuple[int, str, str]]:
    """(index, field, code) of every item error of a 422 invalid_items response."""
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_items"
    return [(e["index"], e["field"], e["code"]) for e in error["details"]["errors"]]


# --- creation, idempotency, contributions -----------------------------------------------


async def test_new_hash_is_created_with_an_id(api: Api) -> None:
    body = await submitted(api, [item(pdq(1))])

    [result] = body["results"]
    assert result["status"] == "created"
    assert result["index"] == 0
    assert isinstance(result["hash_id"], int)
    assert result["signal_type"] == "pdq"
    assert result["value"] == pdq(1)
    assert (body["created"], body["existing"], body["updated"]) == (1, 0, 0)
    rows = await api.sql("select id, signal_type from hashes")
    assert [(r[0], r[1]) for r in rows] == [(result["hash_id"], "pdq")]


async def test_resending_the_same_batch_reports_existing_and_changes_nothing(api: Api) -> None:
    batch = [
        item(pdq(1), external_ref="case-1", quality=80),
        item(pdq(2), labels=[BEHAVIOUR, "entity:isil"]),
        item(VALID_VALUES["md5"], "md5"),
    ]
    first = await submitted(api, batch)
    before = await stored(api)

    again = await submitted(api, batch)

    assert [r["status"] for r in again["results"]] == ["existing"] * 3
    assert [r["hash_id"] for r in again["results"]] == [r["hash_id"] for r in first["results"]]
    assert (again["created"], again["existing"], again["updated"]) == (0, 3, 0)
    assert await stored(api) == before


async def test_resending_the_same_batch_is_still_audited(api: Api) -> None:
    batch = [item(pdq(1))]
    await submitted(api, batch)
    await submitted(api, batch)

    rows = await api.sql("select count(*) from audit_events where action = 'hashes.submit'")
    assert rows[0][0] == 2


async def test_upper_case_hex_is_accepted_and_stored_lower_case(api: Api) -> None:
    value = "ABCDEF0123456789" * 4
    body = await submitted(api, [item(value)])

    [result] = body["results"]
    assert result["value"] == value.lower()
    assert (await read_hash(api, result["hash_id"]))["value"] == value.lower()
    rows = await api.sql("select value from hashes")
    assert [bytes(r[0]) for r in rows] == [bytes.fromhex(value)]


async def test_upper_and_lower_case_of_one_value_are_the_same_hash(api: Api) -> None:
    value = "abcdef0123456789" * 4
    first = await submitted(api, [item(value)])
    second = await submitted(api, [item(value.upper())])

    assert second["results"][0]["status"] == "existing"
    assert second["results"][0]["hash_id"] == first["results"][0]["hash_id"]
    assert await count(api, "hashes") == 1


async def test_second_member_submitting_the_same_value_adds_a_contribution(api: Api) -> None:
    first = await submitted(api, [item(pdq(7))], member="alpha")
    second = await submitted(api, [item(pdq(7))], member="beta")

    hash_id = first["results"][0]["hash_id"]
    assert second["results"][0]["status"] == "created"
    assert second["results"][0]["hash_id"] == hash_id
    assert (await read_hash(api, hash_id))["contributors"] == 2
    assert await count(api, "hashes") == 1
    assert await count(api, "contributions") == 2


async def test_changed_labels_are_reported_as_updated(api: Api) -> None:
    first = await submitted(api, [item(pdq(3))])
    second = await submitted(api, [item(pdq(3), labels=[OTHER_BEHAVIOUR])])

    [result] = second["results"]
    assert result["status"] == "updated"
    assert result["hash_id"] == first["results"][0]["hash_id"]
    assert second["updated"] == 1
    hash_out = await read_hash(api, result["hash_id"])
    assert hash_out["labels"] == [OTHER_BEHAVIOUR]
    assert hash_out["contributors"] == 1


async def test_changed_external_ref_is_reported_as_updated(api: Api) -> None:
    await submitted(api, [item(pdq(3), external_ref="old-ref")])
    second = await submitted(api, [item(pdq(3), external_ref="new-ref")])

    [result] = second["results"]
    assert result["status"] == "updated"
    hash_out = await read_hash(api, result["hash_id"])
    assert hash_out["your_contribution"]["external_ref"] == "new-ref"
    assert await count(api, "contributions") == 1


async def test_hash_labels_are_the_union_of_the_contributors_labels(api: Api) -> None:
    await submitted(api, [item(pdq(5), labels=[BEHAVIOUR, "incident:christchurch-2019"])])
    body = await submitted(
        api, [item(pdq(5), labels=[OTHER_BEHAVIOUR, "entity:isil"])], member="beta"
    )

    hash_out = await read_hash(api, body["results"][0]["hash_id"])
    assert hash_out["labels"] == sorted(
        [BEHAVIOUR, OTHER_BEHAVIOUR, "entity:isil", "incident:christchurch-2019"]
    )


async def test_repeated_value_within_one_batch_is_one_hash_and_one_contribution(
    api: Api,
) -> None:
    body = await submitted(
        api, [item(pdq(9)), item(pdq(9).upper(), labels=[OTHER_BEHAVIOUR]), item(pdq(10))]
    )

    ids = [r["hash_id"] for r in body["results"]]
    assert ids[0] == ids[1] != ids[2]
    assert [r["index"] for r in body["results"]] == [0, 1, 2]
    assert await count(api, "hashes") == 2
    assert await count(api, "contributions") == 2
    assert (await read_hash(api, ids[0]))["labels"] == sorted([BEHAVIOUR, OTHER_BEHAVIOUR])


async def test_resending_a_batch_with_a_repeated_value_is_idempotent(api: Api) -> None:
    batch = [item(pdq(9), external_ref="a"), item(pdq(9), labels=[OTHER_BEHAVIOUR])]
    await submitted(api, batch)
    before = await stored(api)

    again = await submitted(api, batch)

    assert [r["status"] for r in again["results"]] == ["existing", "existing"]
    assert await stored(api) == before


async def test_label_order_and_repeats_do_not_make_a_change(api: Api) -> None:
    await submitted(api, [item(pdq(4), labels=[BEHAVIOUR, "entity:isil"])])

    again = await submitted(api, [item(pdq(4), labels=["entity:isil", BEHAVIOUR, BEHAVIOUR])])

    assert again["results"][0]["status"] == "existing"
    hash_out = await read_hash(api, again["results"][0]["hash_id"])
    assert hash_out["labels"] == [BEHAVIOUR, "entity:isil"]


@pytest.mark.parametrize("signal_type", sorted(VALID_VALUES))
async def test_every_signal_type_is_accepted_with_a_valid_value(api: Api, signal_type: str) -> None:
    value = VALID_VALUES[signal_type]
    body = await submitted(api, [item(value, signal_type)])

    [result] = body["results"]
    assert result["status"] == "created"
    assert (result["signal_type"], result["value"]) == (signal_type, value)
    hash_out = await read_hash(api, result["hash_id"])
    assert (hash_out["signal_type"], hash_out["value"]) == (signal_type, value)


async def test_pdq_quality_at_the_minimum_is_accepted(api: Api) -> None:
    body = await submitted(api, [item(pdq(1), quality=50)])

    hash_out = await read_hash(api, body["results"][0]["hash_id"])
    assert hash_out["your_contribution"]["quality"] == 50


# --- all or nothing ---------------------------------------------------------------------


async def test_batch_with_bad_items_is_refused_listing_every_bad_item(api: Api) -> None:
    response = await submit(
        api,
        [
            item(pdq(1)),
            item("xyz"),
            item(pdq(2)),
            item(pdq(3), labels=["no-such-label"]),
            item(pdq(4), "nohash"),
        ],
    )

    assert item_errors(response) == [
        (1, "value", "invalid_hash"),
        (3, "labels", "unknown_label"),
        (4, "signal_type", "unknown_signal_type"),
    ]


async def test_refused_batch_stores_nothing(api: Api) -> None:
    response = await submit(api, [item(pdq(1)), item(pdq(2)), item("not-a-hash")])

    assert response.status_code == 422
    assert await count(api, "hashes") == 0
    assert await count(api, "contributions") == 0
    rows = await api.sql("select count(*) from audit_events where action = 'hashes.submit'")
    assert rows[0][0] == 0


async def test_refused_batch_leaves_earlier_contributions_untouched(api: Api) -> None:
    await submitted(api, [item(pdq(1), external_ref="kept")])
    before = await stored(api)

    response = await submit(
        api, [item(pdq(1), external_ref="changed"), item(pdq(2)), item(pdq(3), quality=101)]
    )

    assert response.status_code == 422
    assert await stored(api) == before


async def test_item_with_several_problems_reports_each(api: Api) -> None:
    response = await submit(api, [item("zz", labels=["no-such-label"])])

    assert sorted(item_errors(response)) == [
        (0, "labels", "unknown_label"),
        (0, "value", "invalid_hash"),
    ]


# --- one test per error code ------------------------------------------------------------


@pytest.mark.parametrize(
    ("signal_type", "value"),
    [
        pytest.param("pdq", pdq(1)[:-1], id="pdq-too-short"),
        pytest.param("pdq", pdq(1) + "0", id="pdq-too-long"),
        pytest.param("phash", VALID_VALUES["pdq"], id="phash-given-pdq-length"),
        pytest.param("md5", "g" * 32, id="non-hex"),
        pytest.param("sha256", " " + "a" * 63, id="whitespace"),
        pytest.param("pdq", "0x" + "a" * 62, id="hex-prefix"),
        pytest.param("dhash", "é" * 16, id="unicode"),
        pytest.param("pdq", "", id="empty"),
    ],
)
async def test_invalid_hash_value_is_refused(api: Api, signal_type: str, value: str) -> None:
    response = await submit(api, [item(value, signal_type)])

    assert item_errors(response) == [(0, "value", "invalid_hash")]


async def test_unknown_signal_type_is_refused(api: Api) -> None:
    response = await submit(api, [item(pdq(1), "sha1")])

    assert item_errors(response) == [(0, "signal_type", "unknown_signal_type")]


async def test_unknown_label_is_refused(api: Api) -> None:
    response = await submit(api, [item(pdq(1), labels=[BEHAVIOUR, "entity:unknown-group"])])

    assert item_errors(response) == [(0, "labels", "unknown_label")]


@pytest.mark.parametrize(
    "labels",
    [
        pytest.param(["entity:isil"], id="entity-only"),
        pytest.param(["incident:halle-2019", "entity:al-shabaab"], id="entity-and-incident"),
        pytest.param([], id="no-labels"),
    ],
)
async def test_submission_without_a_behaviour_label_is_refused(api: Api, labels: list[str]) -> None:
    response = await submit(api, [item(pdq(1), labels=labels)])

    assert item_errors(response) == [(0, "labels", "missing_behaviour_label")]


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(["entity:isil", "entity:al-qaida"], id="two-entities"),
        pytest.param(["incident:halle-2019", "incident:buffalo-2022"], id="two-incidents"),
    ],
)
async def test_more_than_one_entity_or_incident_label_is_refused(
    api: Api, extra: list[str]
) -> None:
    response = await submit(api, [item(pdq(1), labels=[BEHAVIOUR, *extra])])

    assert item_errors(response) == [(0, "labels", "too_many_labels")]


@pytest.mark.parametrize("quality", [-1, 101])
async def test_quality_out_of_range_is_refused(api: Api, quality: int) -> None:
    response = await submit(api, [item(pdq(1), quality=quality)])

    assert item_errors(response) == [(0, "quality", "invalid_quality")]


@pytest.mark.parametrize("signal_type", ["phash", "md5"])
async def test_quality_on_a_non_pdq_type_is_refused(api: Api, signal_type: str) -> None:
    response = await submit(api, [item(VALID_VALUES[signal_type], signal_type, quality=90)])

    assert item_errors(response) == [(0, "quality", "invalid_quality")]


async def test_pdq_quality_below_the_minimum_is_refused(api: Api) -> None:
    response = await submit(api, [item(pdq(1), quality=49)])

    assert item_errors(response) == [(0, "quality", "low_quality")]
    assert await count(api, "hashes") == 0


async def test_empty_batch_is_refused(api: Api) -> None:
    response = await submit(api, [])

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "empty_batch"


async def test_batch_over_the_configured_item_limit_is_refused(
    database_url: str, api_factory: Callable[[Settings], Awaitable[Api]]
) -> None:
    small = await api_factory(
        Settings(dev_mode=True, database_url=database_url, max_submit_items=3)
    )
    await small.add_member("alpha")

    response = await submit(small, [item(pdq(n)) for n in range(4)])

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "too_many_items"
    assert await count(small, "hashes") == 0


async def test_batch_at_the_configured_item_limit_is_accepted(
    database_url: str, api_factory: Callable[[Settings], Awaitable[Api]]
) -> None:
    small = await api_factory(
        Settings(dev_mode=True, database_url=database_url, max_submit_items=3)
    )
    await small.add_member("alpha")

    body = await submitted(small, [item(pdq(n)) for n in range(3)])

    assert body["created"] == 3


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("value", 12345),
        ("signal_type", 1),
        ("labels", BEHAVIOUR),
        ("quality", "90"),
        ("quality", True),
        ("value", None),
        ("external_ref", 7),
    ],
)
async def test_wrong_json_type_is_refused_naming_the_item(
    api: Api, field: str, bad: object
) -> None:
    response = await submit(api, [item(pdq(1)), {**item(pdq(2)), field: bad}])

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    locations = [e["loc"] for e in error["details"]]
    assert any(loc[:4] == ["body", "hashes", 1, field] for loc in locations), locations
    assert await count(api, "hashes") == 0


async def test_unknown_item_field_is_refused(api: Api) -> None:
    response = await submit(api, [{**item(pdq(1)), "owner": "beta"}])

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    assert await count(api, "hashes") == 0


async def test_external_ref_longer_than_256_characters_is_refused(api: Api) -> None:
    response = await submit(api, [item(pdq(1), external_ref="r" * 257)])

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    assert await count(api, "hashes") == 0


async def test_external_ref_of_256_characters_is_accepted(api: Api) -> None:
    body = await submitted(api, [item(pdq(1), external_ref="r" * 256)])

    hash_out = await read_hash(api, body["results"][0]["hash_id"])
    assert hash_out["your_contribution"]["external_ref"] == "r" * 256


async def test_batch_of_the_default_maximum_size_is_stored(api: Api) -> None:
    batch = [item(pdq(n)) for n in range(10_000)]

    body = await submitted(api, batch)

    assert body["created"] == 10_000
    assert len({r["hash_id"] for r in body["results"]}) == 10_000
    assert await count(api, "hashes") == 10_000
    assert await count(api, "contributions") == 10_000
