"""Bulk submission: degenerate values are refused, absent fields keep what is stored, and on
PostgreSQL a batch reads rows bounded by the batch, not by the table."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event

from hashshare.db import pg_connect
from tests.conftest import Api
from tests.hashes.test_submit import BEHAVIOUR, item, submit, submitted
from tests.values import pdq_value

LABELS_JSON = json.dumps([BEHAVIOUR])

PERCEPTUAL_TYPES = {"pdq": 64, "phash": 16, "dhash": 16, "ahash": 16, "whash": 16}
# The digests of empty input, and all-zero and all-one values of every perceptual type.
DEGENERATE = [
    ("md5", hashlib.md5(b"", usedforsecurity=False).hexdigest()),
    ("sha256", hashlib.sha256(b"").hexdigest()),
    ("md5", hashlib.md5(b"", usedforsecurity=False).hexdigest().upper()),
] + [(name, digit * width) for name, width in PERCEPTUAL_TYPES.items() for digit in ("0", "f", "F")]


def _pdq_of_weight(weight: int) -> str:
    return f"{(1 << weight) - 1:064x}"


async def own_contribution(api: Api, hash_id: int) -> dict[str, Any]:
    response = await api.client.get(f"/v1/hashes/{hash_id}", headers=api.auth("alpha"))
    assert response.status_code == 200, response.text
    mine: dict[str, Any] = response.json()["your_contribution"]
    return mine


# --- degenerate values --------------------------------------------------------------------


@pytest.mark.parametrize(("signal_type", "value"), DEGENERATE)
async def test_a_degenerate_value_is_refused_with_its_own_code(
    api: Api, signal_type: str, value: str
) -> None:
    response = await submit(api, [item(pdq_value(1)), item(value, signal_type)])

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_items"
    assert error["details"]["errors"] == [
        {
            "index": 1,
            "field": "value",
            "code": "degenerate_hash",
            "message": error["details"]["errors"][0]["message"],
        }
    ]
    assert await api.sql("select count(*) from hashes") == [(0,)]


@pytest.mark.parametrize("weight", [1, 64, 96, 160, 200, 255])
async def test_a_pdq_value_with_a_weight_pdq_does_not_produce_is_refused(
    api: Api, weight: int
) -> None:
    response = await submit(api, [item(_pdq_of_weight(weight), quality=100)])

    assert response.status_code == 422
    [error] = response.json()["error"]["details"]["errors"]
    assert error["code"] == "degenerate_hash"
    assert f"{weight} of 256 bits" in error["message"]


@pytest.mark.parametrize("weight", [97, 128, 159])
async def test_pdq_values_within_the_weight_band_are_accepted(api: Api, weight: int) -> None:
    body = await submitted(api, [item(_pdq_of_weight(weight))])

    assert body["created"] == 1


async def test_a_degenerate_value_is_still_a_valid_query(api: Api) -> None:
    response = await api.client.post(
        "/v1/match",
        json={"queries": [{"signal_type": "pdq", "value": "0" * 64}]},
        headers=api.auth("beta", "hashes:match"),
    )

    assert response.status_code == 200
    assert response.json()["results"][0]["matches"] == []


# --- absent fields keep what is stored ------------------------------------------------------


async def test_quality_survives_a_resubmission_without_it(api: Api) -> None:
    [first] = (await submitted(api, [item(pdq_value(7), quality=100)]))["results"]

    body = await submitted(api, [item(pdq_value(7))])

    assert body["results"][0]["status"] == "existing"
    assert (await own_contribution(api, first["hash_id"]))["quality"] == 100


async def test_an_explicit_null_clears_the_stored_quality(api: Api) -> None:
    [first] = (await submitted(api, [item(pdq_value(7), quality=100)]))["results"]

    body = await submitted(api, [item(pdq_value(7), quality=None)])

    assert body["results"][0]["status"] == "updated"
    assert (await own_contribution(api, first["hash_id"]))["quality"] is None


async def test_external_ref_survives_a_resubmission_without_it(api: Api) -> None:
    [first] = (await submitted(api, [item(pdq_value(8), external_ref="case-1")]))["results"]

    await submitted(api, [item(pdq_value(8), quality=90)])

    mine = await own_contribution(api, first["hash_id"])
    assert (mine["external_ref"], mine["quality"]) == ("case-1", 90)


async def test_a_new_value_in_the_same_batch_as_stored_ones_gets_its_fields(api: Api) -> None:
    await submitted(api, [item(pdq_value(1), quality=80)])

    body = await submitted(api, [item(pdq_value(1)), item(pdq_value(2), external_ref="r2")])

    assert [r["status"] for r in body["results"]] == ["existing", "created"]
    assert (await own_contribution(api, body["results"][0]["hash_id"]))["quality"] == 80
    assert (await own_contribution(api, body["results"][1]["hash_id"]))["external_ref"] == "r2"


# --- concurrent batches ---------------------------------------------------------------------


async def test_concurrent_batches_sharing_new_values_in_opposite_orders_both_succeed(
    api: Api,
) -> None:
    for round_ in range(4):
        forward = [item(pdq_value(round_ * 10_000 + n)) for n in range(3000)]

        first, second = await asyncio.gather(
            submit(api, forward, member="alpha"), submit(api, forward[::-1], member="beta")
        )

        assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    assert await api.sql("SELECT contributors, count(*) FROM hashes GROUP BY 1") == [(2, 12_000)]


async def test_concurrent_writers_of_stored_hashes_count_every_contribution_once(
    api: Api,
) -> None:
    await api.add_member("gamma")
    for round_ in range(5):
        stored = [item(pdq_value(100_000 + round_ * 100 + n)) for n in range(50)]
        fresh = [item(pdq_value(200_000 + round_ * 100 + n)) for n in range(50)]
        assert (await submit(api, stored, member="beta")).status_code == 200
        hash_id = (await submitted(api, stored[:1], member="beta"))["results"][0]["hash_id"]

        answers = await asyncio.gather(
            submit(api, fresh + stored, member="alpha"),
            submit(api, stored[::-1], member="gamma"),
            submit(api, stored, member="alpha"),  # a retry while the first is running
            api.client.delete(f"/v1/hashes/{hash_id}", headers=api.auth("beta")),
        )

        assert [a.status_code for a in answers] == [200] * 4, [a.text[:300] for a in answers]
        counts = await api.sql(
            "SELECT h.contributors, count(c.id) FROM hashes h JOIN contributions c"
            " ON c.hash_id = h.id AND c.retracted_at IS NULL WHERE h.id = :id"
            " GROUP BY h.contributors",
            id=hash_id,
        )
        assert counts == [(2, 2)]  # alpha's and gamma's; beta retracted


# --- a batch costs what the batch is, not what the table is (PostgreSQL) -------------------

SEEDED = 100_000
BATCH = 1_000


async def _seed(url: str, count: int) -> None:
    """`count` hashes of member beta straight into the tables, never analysed."""
    conn = await pg_connect(url)
    try:
        rng = random.Random(5)
        rows = [
            ("pdq", bytes.fromhex(pdq_value(rng.getrandbits(128))), "active", LABELS_JSON, 1)
            for _ in range(count)
        ]
        for table in ("hashes", "contributions"):
            await conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        await conn.execute(
            "CREATE TEMPORARY TABLE seed (signal_type text, value bytea, status text,"
            " labels json, contributors int)"
        )
        await conn.copy_records_to_table("seed", records=rows)
        await conn.execute(
            "INSERT INTO hashes (signal_type, value, status, labels, contributors,"
            " first_contributed_at, last_contributed_at, updated_at)"
            " SELECT signal_type, value, status, labels, contributors, now(), now(), now()"
            " FROM seed;"
            "INSERT INTO contributions (hash_id, member_id, labels, created_at, updated_at)"
            " SELECT id, 'beta', labels, now(), now() FROM hashes"
        )
    finally:
        await conn.close()


def _report_counters_at_commit(api: Api) -> Callable[[], None]:
    """Make every backend of the service publish its table counters when its transaction
    ends, instead of up to seconds later (PostgreSQL 15's `pg_stat_force_next_flush`); return
    what undoes it."""

    def after_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "pg_stat_force_next_flush" not in statement:
            flush = conn.connection.dbapi_connection.cursor()
            flush.execute("SELECT pg_stat_force_next_flush()")
            flush.close()

    engine = api.app.state.runtime.database.engine.sync_engine
    event.listen(engine, "after_cursor_execute", after_execute)
    return lambda: event.remove(engine, "after_cursor_execute", after_execute)


async def _rows_read(api: Api) -> int:
    """Rows PostgreSQL has read from `hashes` and `contributions`, by any scan, so far."""
    rows = await api.sql(
        "SELECT (SELECT sum(seq_tup_read) FROM pg_stat_user_tables WHERE relname IN"
        " ('hashes', 'contributions')) + (SELECT sum(idx_tup_read) FROM pg_stat_user_indexes"
        " WHERE relname IN ('hashes', 'contributions'))"
    )
    return int(rows[0][0] or 0)


async def _settled_rows_read(api: Api) -> int:
    """`_rows_read` once it has stopped moving: counters of earlier statements (the seeding,
    the read of stored values) can reach the statistics a moment later and must not be
    charged to the next batch."""
    last = await _rows_read(api)
    for _ in range(30):
        await asyncio.sleep(0.2)
        now = await _rows_read(api)
        if now == last:
            return now
        last = now
    return last


async def test_a_batch_reads_rows_bounded_by_the_batch_not_by_the_table(api: Api) -> None:
    if api.settings.database_url.startswith("sqlite"):
        pytest.skip("plans and their statistics are PostgreSQL's")
    await _seed(api.settings.database_url, SEEDED)
    stop_reporting = _report_counters_at_commit(api)
    rng = random.Random(9)
    stored = await api.sql("SELECT value FROM hashes ORDER BY id LIMIT :n", n=BATCH * 8)
    try:
        # More than five batches: asyncpg's prepared statements go to generic plans.
        for round_ in range(7):
            fresh = [item(pdq_value(rng.getrandbits(128))) for _ in range(BATCH // 2)]
            resent = [item(row[0].hex()) for row in stored[round_ * 500 : round_ * 500 + 500]]
            before = await _settled_rows_read(api)
            body = await submitted(api, fresh + resent, member="beta")
            read = await _rows_read(api) - before

            assert (body["created"], body["existing"]) == (BATCH // 2, BATCH // 2)
            # Each item is a few index lookups; one scan of either table is 100,000 rows.
            assert read <= 10 * BATCH, f"batch {round_} read {read:,} rows"
    finally:
        stop_reporting()
        for table in ("hashes", "contributions"):
            await api.sql(f"ALTER TABLE {table} RESET (autovacuum_enabled)")
