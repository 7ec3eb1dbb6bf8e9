"""POST /v1/match/image: an image in, its hashes matched as POST /v1/match would."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import numpy as np
from PIL import Image

from hashshare.hashing.hashers import hash_bytes
from tests.conftest import Api
from tests.hashing.http import error_of, upload
from tests.hashing.pictures import PDQ_DATA, encode

BEHAVIOUR = "attacker-manifesto"
DIH = PDQ_DATA / "reg-test-input" / "dih"
ORIGINAL = (DIH / "bridge-1-original.jpg").read_bytes()
ORIGINAL_PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
ROTATED = (DIH / "bridge-2-rotate-90.jpg").read_bytes()


async def submit(api: Api, signal_type: str, value: str) -> int:
    item = {"signal_type": signal_type, "value": value, "labels": [BEHAVIOUR]}
    response = await api.client.post(
        "/v1/hashes", json={"hashes": [item]}, headers=api.auth("beta", "hashes:submit")
    )
    assert response.status_code == 200, response.text
    hash_id: int = response.json()["results"][0]["hash_id"]
    return hash_id


async def match_image(api: Api, data: bytes, **fields: Any) -> dict[str, Any]:
    response = await upload(api, data, path="/v1/match/image", **fields)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def matched(body: dict[str, Any]) -> list[tuple[str, str | None, int]]:
    """(signal type, transform, hash id) of every match."""
    return [
        (result["signal_type"], result["transform"], hit["hash_id"])
        for result in body["results"]
        for hit in result["matches"]
    ]


async def test_recompressed_copy_matches_the_submitted_pdq(api: Api) -> None:
    hash_id = await submit(api, "pdq", ORIGINAL_PDQ)
    copy = encode(Image.open(io.BytesIO(ORIGINAL)), "JPEG", quality=60)

    body = await match_image(api, copy)

    assert matched(body) == [("pdq", "original", hash_id)]
    assert body["matched_queries"] == 1
    assert 0 < body["results"][0]["matches"][0]["distance"] <= 31


async def test_default_queries_are_pdq_phash_dhash_md5_and_sha256(api: Api) -> None:
    hashed = (await upload(api, ORIGINAL, signal_types="phash,dhash")).json()["hashes"]

    body = await match_image(api, ORIGINAL)

    assert [(r["signal_type"], r["value"]) for r in body["results"]] == [
        ("pdq", ORIGINAL_PDQ),
        ("phash", hashed[0]["value"]),
        ("dhash", hashed[1]["value"]),
        ("md5", hashlib.md5(ORIGINAL, usedforsecurity=False).hexdigest()),
        ("sha256", hashlib.sha256(ORIGINAL).hexdigest()),
    ]


async def test_a_small_image_re_encoded_as_webp_is_found_by_default(api: Api) -> None:
    small = Image.open(io.BytesIO(ORIGINAL)).convert("RGB").resize((256, 256))
    stored = encode(small, "JPEG", quality=90)
    hashed = (await upload(api, stored)).json()["hashes"]
    ids = {h["signal_type"]: await submit(api, h["signal_type"], h["value"]) for h in hashed[:3]}

    body = await match_image(api, encode(small, "WEBP", quality=50))

    found = {(signal_type, hash_id) for signal_type, _, hash_id in matched(body)}
    assert ("phash", ids["phash"]) in found
    assert ("dhash", ids["dhash"]) in found


async def test_identical_file_matches_its_md5(api: Api) -> None:
    hash_id = await submit(api, "md5", hashlib.md5(ORIGINAL, usedforsecurity=False).hexdigest())

    assert matched(await match_image(api, ORIGINAL)) == [("md5", None, hash_id)]


async def test_requested_64_bit_types_are_matched(api: Api) -> None:
    hashed = await upload(api, ORIGINAL, signal_types="phash")
    phash = hashed.json()["hashes"][0]["value"]
    hash_id = await submit(api, "phash", phash)

    body = await match_image(api, ORIGINAL, signal_types="phash")

    assert matched(body) == [("phash", None, hash_id)]


async def test_rotated_copy_does_not_match_without_dihedral(api: Api) -> None:
    await submit(api, "pdq", ORIGINAL_PDQ)

    assert matched(await match_image(api, ROTATED)) == []


async def test_rotated_copy_matches_with_dihedral(api: Api) -> None:
    hash_id = await submit(api, "pdq", ORIGINAL_PDQ)

    body = await match_image(api, ROTATED, dihedral=True)

    # bridge-2 is the original turned 90 degrees; turning it back is rotate_270.
    assert matched(body) == [("pdq", "rotate_270", hash_id)]
    assert len([r for r in body["results"] if r["signal_type"] == "pdq"]) == 8


async def test_low_quality_pdq_is_not_matched_and_says_so(api: Api) -> None:
    body = await match_image(api, (PDQ_DATA / "pytx" / "I16.png").read_bytes())

    assert [r["signal_type"] for r in body["results"]] == ["md5", "sha256"]
    assert [w["code"] for w in body["warnings"]] == ["low_quality"]


async def test_disputed_hashes_need_include_disputed(api: Api) -> None:
    hash_id = await submit(api, "pdq", ORIGINAL_PDQ)
    await api.sql("update hashes set status = 'disputed' where id = :id", id=hash_id)

    without = await match_image(api, ORIGINAL)
    with_disputed = await match_image(api, ORIGINAL, include_disputed=True)

    assert (matched(without), matched(with_disputed)) == ([], [("pdq", "original", hash_id)])


async def test_match_is_audited_naming_only_the_matched_hashes(api: Api) -> None:
    hash_id = await submit(api, "pdq", ORIGINAL_PDQ)

    await match_image(api, ORIGINAL)

    rows = await api.sql(
        "select target_ids, details from audit_events where action = 'match' order by id"
    )
    assert len(rows) == 1
    target_ids, details = (json.loads(v) if isinstance(v, str) else v for v in rows[0])
    assert target_ids == [hash_id]
    text = json.dumps(details)
    assert hashlib.sha256(ORIGINAL).hexdigest() not in text
    assert hashlib.md5(ORIGINAL, usedforsecurity=False).hexdigest() not in text


async def test_match_image_stores_no_hash(api: Api) -> None:
    await match_image(api, ORIGINAL)

    assert await api.sql("select count(*) from hashes") == [(0,)]


async def test_match_image_needs_the_match_scope(api: Api) -> None:
    response = await upload(api, ORIGINAL, path="/v1/match/image", scopes="hashes:read")

    assert error_of(response) == (403, "insufficient_scope")


async def test_unreadable_image_is_refused_before_matching(api: Api) -> None:
    response = await upload(api, b"GIF89a broken", path="/v1/match/image")

    assert error_of(response) == (422, "image_unreadable")
    assert await api.sql("select count(*) from audit_events where action = 'match'") == [(0,)]


def _captioned(data: bytes) -> bytes:
    from tests.hashing.test_regions import captioned

    return encode(captioned(Image.open(io.BytesIO(data)).convert("RGB")), "JPEG", quality=80)


async def test_a_captioned_copy_is_found_through_its_framed_region(api: Api) -> None:
    hash_id = await submit(api, "pdq", ORIGINAL_PDQ)  # a plain PDQ, as HMA members submit

    body = await match_image(api, _captioned(ORIGINAL))

    assert body["regions"] and {r["region"] for r in body["regions"]} <= {
        "trimmed",
        "framed",
        "banded",
    }
    found = [hit for hit in body["matched_hashes"] if hit["hash_id"] == hash_id]
    assert len(found) == 1  # one match, however many regions or queries found it
    assert found[0]["region"] in ("trimmed", "framed", "banded") and found[0]["distance"] <= 31
    whole = [r for r in body["results"] if r["signal_type"] == "pdq" and r["region"] == "whole"]
    assert all(not r["matches"] for r in whole)  # the whole image's hash misses it


async def test_regions_can_be_left_out_of_an_image_match(api: Api) -> None:
    await submit(api, "pdq", ORIGINAL_PDQ)

    body = await match_image(api, _captioned(ORIGINAL), regions=False)

    assert body["regions"] == [] and body["matched_hashes"] == []
    assert {r["region"] for r in body["results"]} == {"whole"}


async def test_region_hashes_from_v1_hash_are_accepted_by_v1_hashes_and_match(
    api: Api,
) -> None:
    framed = _captioned(ORIGINAL)
    response = await upload(api, framed, signal_types="pdq,phash")
    assert response.status_code == 200, response.text
    body = response.json()
    items = [
        {**value, "labels": [BEHAVIOUR]}
        for value in body["hashes"] + [h for r in body["regions"] for h in r["hashes"]]
    ]
    submitted = await api.client.post(
        "/v1/hashes", json={"hashes": items}, headers=api.auth("beta", "hashes:submit")
    )
    assert submitted.status_code == 200, submitted.text

    found = await match_image(api, encode(Image.open(io.BytesIO(ORIGINAL)), "JPEG", quality=70))

    assert found["matched_hashes"]  # the plain copy matches the meme's framed region


async def test_an_invalid_regions_field_is_refused(api: Api) -> None:
    response = await upload(api, ORIGINAL, path="/v1/match/image", regions="sometimes")

    assert error_of(response) == (422, "validation_error")


async def test_a_cropped_copy_is_found_through_a_central_crop_from_v1_hash(api: Api) -> None:
    body = (await upload(api, ORIGINAL, signal_types="pdq")).json()
    central = [r for r in body["regions"] if r["region"].startswith("central-")]
    assert [r["region"] for r in central] == ["central-95", "central-91"]
    items = [
        {**value, "labels": [BEHAVIOUR]}
        for value in body["hashes"] + [h for r in central for h in r["hashes"]]
    ]
    submitted = await api.client.post(
        "/v1/hashes", json={"hashes": items}, headers=api.auth("beta", "hashes:submit")
    )
    assert submitted.status_code == 200, submitted.text
    whole_id, *central_ids = [r["hash_id"] for r in submitted.json()["results"]]
    picture = Image.open(io.BytesIO(ORIGINAL))
    dx, dy = picture.width * 4 // 100, picture.height * 4 // 100
    cropped = picture.crop((dx, dy, picture.width - dx, picture.height - dy))

    found = await match_image(api, encode(cropped, "JPEG", quality=80), signal_types="pdq")

    assert {hit["hash_id"] for hit in found["matched_hashes"]} & set(central_ids)
    assert whole_id not in {hit["hash_id"] for hit in found["matched_hashes"]}


async def test_match_image_does_not_query_central_crops(api: Api) -> None:
    body = await match_image(api, ORIGINAL)

    assert not [r for r in body["regions"] if r["region"].startswith("central-")]
    assert {r["region"] for r in body["results"]} == {"whole"}


async def test_v1_hash_leaves_out_the_regions_a_submission_would_refuse(api: Api) -> None:
    """A picture whose middle is flat: its inner central crop has almost no PDQ quality."""
    pixels = np.asarray(Image.open(io.BytesIO(ORIGINAL)).convert("RGB").resize((400, 400)))
    ring = pixels.copy()
    ring[20:-20, 20:-20] = 128
    image = encode(Image.fromarray(ring))
    every = hash_bytes(image, ("pdq",), regions=True, central=True).regions
    assert any(region.pdq_quality is not None and region.pdq_quality < 50 for region in every)

    body = (await upload(api, image, signal_types="pdq")).json()
    items = [
        {**value, "labels": [BEHAVIOUR]}
        for value in body["hashes"] + [h for r in body["regions"] for h in r["hashes"]]
    ]
    submitted = await api.client.post(
        "/v1/hashes", json={"hashes": items}, headers=api.auth("beta", "hashes:submit")
    )

    assert all(h["quality"] >= 50 for r in body["regions"] for h in r["hashes"])
    assert 1 < len(items) < 1 + len(every)
    assert submitted.status_code == 200, submitted.text
