"""HMA's routes on the edge: lookups over shared and local banks, hashing, curation, and
the refusals, each in HMA's shape."""

from __future__ import annotations

from pathlib import Path

import httpx
from PIL import Image
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from hashshare.edge.app import create_edge_app
from hashshare.edge.hma.banks import LOCAL_ID_BASE
from hashshare.edge.hma.service import SHARED_BANKS
from hashshare.edge.runtime import EdgeOptions
from tests.conftest import Api
from tests.edge.hma_edge import IMAGE_HOST, PHOTO, hma_edge, serving, submit, until_held
from tests.hashing.pictures import encode
from tests.values import far_pdq, pdq_value

SHARED = "SHARED_ATTACKER_MANIFESTO"


async def test_a_lookup_returns_shared_and_local_matches_nearest_first(
    api: Api, tmp_path: Path
) -> None:
    [hash_id] = await submit(api, [pdq_value(1)])
    async with hma_edge(api, tmp_path) as edge:
        assert (await edge.post("/c/banks", json={"name": "MINE"})).status_code == 201
        added = await edge.post("/c/bank/MINE/signal", json={"pdq": pdq_value(3)})
        assert added.status_code == 200
        local_id = added.json()["id"]
        assert local_id > LOCAL_ID_BASE
        assert added.json()["signals"] == {"pdq": pdq_value(3)}

        found = await edge.get("/m/lookup", params={"signal_type": "pdq", "signal": pdq_value(1)})
        assert found.status_code == 200
        body = found.json()
        assert list(body) == [SHARED, "MINE"]  # the nearest match's bank first
        assert body[SHARED] == [
            {
                "bank_content_id": hash_id,
                "distance": "0",
                "source": "shared",
                "hash_id": hash_id,
                "labels": ["attacker-manifesto"],
                "status": "active",
                "contributors": 1,
            }
        ]
        [local] = body["MINE"]
        assert local["bank_content_id"] == local_id
        assert local["distance"] == "2"
        assert local["source"] == "local"

        only = await edge.get(
            "/m/lookup", params={"signal_type": "pdq", "signal": pdq_value(1), "banks": "MINE"}
        )
        assert list(only.json()) == ["MINE"]
        nothing = await edge.get("/m/lookup", params={"signal_type": "pdq", "signal": far_pdq(9)})
        assert nothing.json() == {}


async def test_local_banks_survive_a_restart(api: Api, tmp_path: Path) -> None:
    async with hma_edge(api, tmp_path) as edge:
        await edge.post("/c/banks", json={"name": "KEPT", "enabled_ratio": 1.0})
        content_id = (await edge.post("/c/bank/KEPT/signal", json={"pdq": pdq_value(5)})).json()[
            "id"
        ]
    async with hma_edge(api, tmp_path) as edge:
        assert (await edge.get("/c/bank/KEPT")).json()["matching_enabled_ratio"] == 1.0
        found = await edge.get("/m/lookup", params={"signal_type": "pdq", "signal": pdq_value(5)})
        assert found.json()["KEPT"][0]["bank_content_id"] == content_id
        status = (await edge.get("/m/index/status", params={"signal_type": "pdq"})).json()
        assert status["pdq"]["local_size"] == 1
        assert status["pdq"]["present"] is True


async def test_disabled_contents_and_banks_do_not_match(api: Api, tmp_path: Path) -> None:
    async with hma_edge(api, tmp_path) as edge:
        await edge.post("/c/banks", json={"name": "OFF", "enabled": False})
        await edge.post("/c/banks", json={"name": "ON"})
        await edge.post("/c/bank/OFF/signal", json={"pdq": pdq_value(7)})
        on_id = (await edge.post("/c/bank/ON/signal", json={"pdq": pdq_value(7)})).json()["id"]
        query = {"signal_type": "pdq", "signal": pdq_value(7)}
        assert list((await edge.get("/m/lookup", params=query)).json()) == ["ON"]
        forced = await edge.get("/m/lookup", params={**query, "bypass_coinflip": "true"})
        assert sorted(forced.json()) == ["OFF", "ON"]

        updated = await edge.put(f"/c/bank/ON/content/{on_id}", json={"disable_until_ts": 0})
        assert updated.status_code == 200
        assert updated.json()["disable_until_ts"] == 0
        assert updated.json()["bank"] == {"name": "ON", "matching_enabled_ratio": 1.0}
        noted = await edge.put(f"/c/bank/ON/content/{on_id}", json={"note": "why"})
        assert noted.json()["note"] == "why"
        assert noted.json()["disable_until_ts"] == 0
        cleared = await edge.put(f"/c/bank/ON/content/{on_id}", json={"note": None})
        assert cleared.json()["note"] is None
        assert (await edge.get("/m/lookup", params=query)).json() == {}
        raw = await edge.get("/m/raw_lookup", params={**query, "include_distance": "true"})
        assert len(raw.json()["matches"]) == 2  # raw lookups do not filter


async def test_raw_lookup_answers_ids_once(api: Api, tmp_path: Path) -> None:
    [hash_id] = await submit(
        api, [pdq_value(11)], ["attacker-manifesto", "graphic-violence-against-defenceless-people"]
    )
    async with hma_edge(api, tmp_path) as edge:
        raw = await edge.get(
            "/m/raw_lookup", params={"signal_type": "pdq", "signal": pdq_value(11)}
        )
        assert raw.json() == {"matches": [hash_id]}
        lookup = await edge.get("/m/lookup", params={"signal_type": "pdq", "signal": pdq_value(11)})
        assert sorted(lookup.json()) == [
            SHARED,
            "SHARED_GRAPHIC_VIOLENCE_AGAINST_DEFENCELESS_PEOPLE",
        ]


async def test_deleting_content_and_banks_stops_their_matches(api: Api, tmp_path: Path) -> None:
    async with hma_edge(api, tmp_path) as edge:
        await edge.post("/c/banks", json={"name": "GONE"})
        content_id = (await edge.post("/c/bank/GONE/signal", json={"pdq": pdq_value(9)})).json()[
            "id"
        ]
        got = await edge.get(f"/c/bank/GONE/content/{content_id}?include_signals=true")
        assert got.json()["signals"] == {"pdq": pdq_value(9)}
        assert got.json()["disable_until_ts"] == 1
        deleted = await edge.delete(f"/c/bank/GONE/content/{content_id}")
        assert deleted.json() == {"deleted": 1}
        assert (await edge.delete(f"/c/bank/GONE/content/{content_id}")).json() == {"deleted": 0}
        missing = await edge.get(f"/c/bank/GONE/content/{content_id}")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "content_not_found"
        assert missing.json()["message"] == missing.json()["error"]["message"]
        query = {"signal_type": "pdq", "signal": pdq_value(9)}
        assert (await edge.get("/m/lookup", params=query)).json() == {}
        await edge.post("/c/bank/GONE/signal", json={"pdq": pdq_value(9)})
        assert (await edge.delete("/c/bank/GONE")).json() == {"message": "Done"}
        assert (await edge.get("/c/bank/GONE")).status_code == 404
        assert (await edge.get("/m/lookup", params=query)).json() == {}


async def test_shared_banks_are_listed_and_read_only(api: Api, tmp_path: Path) -> None:
    [hash_id] = await submit(api, [pdq_value(13)])
    async with hma_edge(api, tmp_path) as edge:
        await edge.post("/c/banks", json={"name": "LOCAL_ONE", "enabled_ratio": "0.5"})
        banks = (await edge.get("/c/banks")).json()
        assert banks[: len(SHARED_BANKS)] == [
            {"name": name, "matching_enabled_ratio": 1.0, "source": "shared"}
            for name in SHARED_BANKS
        ]
        assert banks[-1] == {"name": "LOCAL_ONE", "matching_enabled_ratio": 0.5, "source": "local"}
        content = await edge.get(f"/c/bank/{SHARED}/content/{hash_id}?include_signals=true")
        assert content.json()["signals"] == {"pdq": pdq_value(13)}
        assert content.json()["hash_id"] == hash_id
        assert content.json()["status"] == "active"
        for refused in (
            await edge.post("/c/banks", json={"name": SHARED}),
            await edge.put(f"/c/bank/{SHARED}", json={"enabled_ratio": 0.1}),
            await edge.delete(f"/c/bank/{SHARED}"),
            await edge.post(f"/c/bank/{SHARED}/signal", json={"pdq": pdq_value(14)}),
            await edge.delete(f"/c/bank/{SHARED}/content/{hash_id}"),
        ):
            assert refused.status_code == 403
            assert refused.json()["error"]["code"] == "shared_bank_read_only"


async def test_bad_curation_calls_are_refused_with_codes(api: Api, tmp_path: Path) -> None:
    async with hma_edge(api, tmp_path) as edge:
        await edge.post("/c/banks", json={"name": "DUP"})
        cases = [
            (await edge.post("/c/banks", json={"name": "DUP"}), 403, "bank_exists"),
            (await edge.post("/c/banks", json={"name": "lower"}), 400, "invalid_bank_name"),
            (await edge.post("/c/banks", json={}), 400, "invalid_bank_name"),
            (await edge.post("/c/banks", json=[1]), 400, "invalid_body"),
            (
                await edge.post("/c/banks", json={"name": "R", "enabled_ratio": 2}),
                400,
                "invalid_enabled_ratio",
            ),
            (
                await edge.post("/c/banks", json={"name": "R", "enabled_ratio": "x"}),
                400,
                "invalid_enabled_ratio",
            ),
            (await edge.get("/c/bank/NOPE"), 404, "bank_not_found"),
            (await edge.put("/c/bank/NOPE", json={"enabled": True}), 404, "bank_not_found"),
            (
                await edge.post("/c/bank/NOPE/signal", json={"pdq": pdq_value(1)}),
                404,
                "bank_not_found",
            ),
            (await edge.post("/c/bank/DUP/signal", json={}), 400, "no_signals"),
            (
                await edge.post("/c/bank/DUP/signal", json={"nope": "ab"}),
                400,
                "unknown_signal_type",
            ),
            (await edge.post("/c/bank/DUP/signal", json={"pdq": "xyz"}), 400, "invalid_hash"),
            (await edge.post("/c/bank/DUP/signal", json={"pdq": "0" * 64}), 400, "degenerate_hash"),
            (
                await edge.post(
                    "/c/bank/DUP/signal", json={"pdq": pdq_value(1), "note": "n" * 300}
                ),
                400,
                "invalid_note",
            ),
            (await edge.post("/c/bank/DUP/content"), 400, "missing_file"),
            (
                await edge.put("/c/bank/DUP/content/1", json={"disable_until_ts": -1}),
                400,
                "invalid_disable_until_ts",
            ),
            (await edge.put("/c/bank/DUP/content/1", json={}), 404, "content_not_found"),
        ]
        for response, status, code in cases:
            assert response.status_code == status, (code, response.text)
            assert response.json()["error"]["code"] == code
            assert isinstance(response.json()["message"], str)


async def test_bad_lookups_are_refused_with_codes(api: Api, tmp_path: Path) -> None:
    async with hma_edge(api, tmp_path) as edge:
        cases = [
            (await edge.get("/m/lookup"), 400, "missing_signal"),
            (await edge.get("/m/lookup?signal_type=pdq&signal=xyz"), 400, "invalid_hash"),
            (await edge.get("/m/lookup?signal_type=nope&signal=ab"), 400, "unknown_signal_type"),
            (await edge.get("/m/raw_lookup?signal_type=pdq"), 422, "validation_error"),
            (await edge.get("/m/index/status?signal_type=nope"), 400, "unknown_signal_type"),
            (await edge.post("/m/compare", json={"pdq": [pdq_value(1)]}), 400, "invalid_compare"),
            (await edge.post("/m/compare", json=[1]), 400, "invalid_compare"),
            (await edge.post("/m/compare", json={"pdq": "ab"}), 400, "invalid_compare"),
            (await edge.post("/m/lookup", content=b"x"), 415, "unsupported_media_type"),
            (
                await edge.post("/m/lookup", files={"video": ("v.mp4", b"x")}),
                400,
                "unsupported_content_type",
            ),
            (await edge.post("/m/lookup", files={"doc": ("d", b"x")}), 400, "unknown_content_type"),
        ]
        for response, status, code in cases:
            assert response.status_code == status, (code, response.text)
            assert response.json()["error"]["code"] == code


async def test_compare_measures_distance_as_hma_does(api: Api, tmp_path: Path) -> None:
    async with hma_edge(api, tmp_path) as edge:
        near = await edge.post("/m/compare", json={"pdq": [pdq_value(1), pdq_value(3)]})
        assert near.json() == {"pdq": [True, {"distance": 2}]}
        far = await edge.post("/m/compare", json={"pdq": [far_pdq(1), far_pdq(2)]})
        assert far.json()["pdq"][0] is False


async def test_uploads_are_hashed_matched_and_banked(api: Api, tmp_path: Path) -> None:
    async with hma_edge(api, tmp_path) as edge:
        hashed = await edge.post("/h/hash", files={"photo": ("p.png", PHOTO, "image/png")})
        assert hashed.status_code == 200
        assert set(hashed.json()) == {"pdq", "phash", "dhash", "md5", "sha256"}
        only = await edge.post("/h/hash?types=pdq", files={"photo": ("p.png", PHOTO)})
        assert set(only.json()) == {"pdq"}
        await edge.post("/c/banks", json={"name": "UPLOADS"})
        added = await edge.post(
            "/c/bank/UPLOADS/content",
            files={"photo": ("p.png", PHOTO)},
            data={"metadata": '{"content_id": "c-1", "json": {"k": 1}}', "note": "seen"},
        )
        assert added.status_code == 200, added.text
        assert added.json()["signals"] == hashed.json()
        content = await edge.get(f"/c/bank/UPLOADS/content/{added.json()['id']}")
        assert content.json()["metadata"] == {"content_id": "c-1", "json": {"k": 1}}
        assert content.json()["note"] == "seen"
        found = await edge.post("/m/lookup", files={"photo": ("p.png", PHOTO)})
        assert set(found.json()) == {"pdq", "phash", "dhash", "md5", "sha256"}
        assert found.json()["pdq"]["UPLOADS"][0]["distance"] == "0"
        assert found.json()["md5"]["UPLOADS"][0]["distance"] == "-"


async def test_urls_are_fetched_only_from_allowed_hosts(api: Api, tmp_path: Path) -> None:
    async with hma_edge(api, tmp_path) as edge:
        fetched = await edge.get("/h/hash", params={"url": f"http://{IMAGE_HOST}/photo.png"})
        uploaded = await edge.post("/h/hash", files={"photo": ("p.png", PHOTO)})
        assert fetched.status_code == 200
        assert fetched.json() == uploaded.json()
        cases = [
            ("http://internal.test/secret.png", 403, "url_host_not_allowed"),
            (f"http://evil{IMAGE_HOST}/photo.png", 403, "url_host_not_allowed"),
            (f"file://{IMAGE_HOST}/etc/passwd", 400, "invalid_url"),
            (f"http://user:pw@{IMAGE_HOST}/photo.png", 400, "invalid_url"),
            (f"http://{IMAGE_HOST}:port/photo.png", 400, "invalid_url"),
            (f"http://{IMAGE_HOST}/moved.png", 400, "url_fetch_failed"),
            (f"http://{IMAGE_HOST}/missing.png", 400, "url_fetch_failed"),
            (f"http://{IMAGE_HOST}/page.html", 400, "unsupported_content_type"),
        ]
        for url, status, code in cases:
            response = await edge.get("/h/hash", params={"url": url})
            assert response.status_code == status, (url, response.text)
            assert response.json()["error"]["code"] == code
    async with hma_edge(api, tmp_path / "closed", fetch_hosts=()) as edge:
        refused = await edge.get("/h/hash", params={"url": f"http://{IMAGE_HOST}/photo.png"})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "url_fetch_disabled"


async def test_status_says_alive_once_synced(api: Api, tmp_path: Path) -> None:
    await submit(api, [pdq_value(21)])
    async with hma_edge(api, tmp_path) as edge:
        await until_held(edge, 1)
        status = await edge.get("/status")
        assert status.status_code == 200
        assert status.text == "I-AM-ALIVE"
        assert (await edge.get("/status/live")).text == "I-AM-ALIVE"
        index = (await edge.get("/m/index/status")).json()
        assert index["pdq"]["size"] == 1
        assert index["pdq"]["built_to"] > 0
        assert set(index) == {"pdq", "phash", "dhash", "ahash", "whash", "md5", "sha256"}


async def test_a_local_token_guards_the_hma_routes(api: Api, tmp_path: Path) -> None:
    async with hma_edge(api, tmp_path, local_token="local-secret-token") as edge:
        refused = await edge.get("/c/banks")
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_local_token"
        allowed = await edge.get("/c/banks", headers={"Authorization": "Bearer local-secret-token"})
        assert allowed.status_code == 200


async def test_content_is_added_only_to_an_existing_local_bank(api: Api, tmp_path: Path) -> None:
    async with hma_edge(api, tmp_path) as edge:
        url = {"url": f"http://{IMAGE_HOST}/photo.png"}
        shared = await edge.post(f"/c/bank/{SHARED}/content", params=url)
        assert shared.status_code == 403
        assert shared.json()["error"]["code"] == "shared_bank_read_only"
        missing = await edge.post("/c/bank/NOPE/content", files={"photo": ("p.png", PHOTO)})
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "bank_not_found"


async def test_a_blank_photo_is_banked_by_its_exact_hashes_only(api: Api, tmp_path: Path) -> None:
    blank = encode(Image.new("RGB", (200, 200), (128, 128, 128)))
    async with hma_edge(api, tmp_path) as edge:
        await edge.post("/c/banks", json={"name": "BLANKS"})
        added = await edge.post("/c/bank/BLANKS/content", files={"photo": ("b.png", blank)})
        assert added.status_code == 200, added.text
        assert set(added.json()["signals"]) == {"md5", "sha256"}


async def test_status_is_503_while_the_upstream_cannot_be_reached(tmp_path: Path) -> None:
    down = Starlette(routes=[Route("/{path:path}", lambda request: Response(status_code=502))])
    app = create_edge_app(
        EdgeOptions(upstream="http://central", token="not-a-jwt", data=tmp_path, wait_seconds=0.2),
        transport=httpx.ASGITransport(app=down),
    )
    async with serving(app) as edge:
        status = await edge.get("/status")
        assert status.status_code == 503
        assert status.text in ("INDEX-NOT-LOADED", "INDEX-STALE")
        assert (await edge.get("/status/live")).status_code == 200
