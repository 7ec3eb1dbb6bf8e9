"""POST /v1/hash: an image in, its hashes out; nothing kept."""

from __future__ import annotations

import hashlib
import tempfile

import pytest

from tests.conftest import Api
from tests.hashing.http import error_of, upload
from tests.hashing.pictures import PDQ_DATA, encode, noise, scene

SAMPLE_B = (PDQ_DATA / "pytx" / "sample-b.jpg").read_bytes()
SAMPLE_B_PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


async def test_hash_returns_the_reference_pdq_and_the_file_hashes(api: Api) -> None:
    response = await upload(api, SAMPLE_B)

    assert response.status_code == 200, response.text
    hashes = {h["signal_type"]: h for h in response.json()["hashes"]}
    assert list(hashes) == ["pdq", "phash", "dhash", "md5", "sha256"]
    assert hashes["pdq"] == {"signal_type": "pdq", "value": SAMPLE_B_PDQ, "quality": 100}
    assert hashes["sha256"]["value"] == hashlib.sha256(SAMPLE_B).hexdigest()


async def test_hash_describes_the_image(api: Api) -> None:
    response = await upload(api, SAMPLE_B)

    assert response.json()["image"] == {
        "format": "JPEG",
        "width": 1600,
        "height": 1004,
        "animated": False,
        "exif_orientation": 1,
        "reduction": 1,
    }


async def test_hash_computes_only_the_requested_types(api: Api) -> None:
    response = await upload(api, SAMPLE_B, signal_types="md5,whash")

    assert [h["signal_type"] for h in response.json()["hashes"]] == ["whash", "md5"]


async def test_empty_signal_types_field_means_the_default_types(api: Api) -> None:
    response = await upload(api, SAMPLE_B, signal_types="")

    assert [h["signal_type"] for h in response.json()["hashes"]] == [
        "pdq",
        "phash",
        "dhash",
        "md5",
        "sha256",
    ]


async def test_hash_with_dihedral_returns_the_eight_pdq_variants(api: Api) -> None:
    response = await upload(api, SAMPLE_B, signal_types="pdq", dihedral=True)

    variants = response.json()["pdq_dihedral"]
    assert [v["transform"] for v in variants] == [
        "original",
        "rotate_90",
        "rotate_180",
        "rotate_270",
        "flip_left_right",
        "flip_top_bottom",
        "transpose",
        "transverse",
    ]
    assert variants[0]["value"] == SAMPLE_B_PDQ


async def test_hash_reports_a_low_quality_pdq_with_a_warning(api: Api) -> None:
    response = await upload(api, (PDQ_DATA / "pytx" / "I16.png").read_bytes())

    body = response.json()
    assert body["hashes"][0]["quality"] == 36
    assert [w["code"] for w in body["warnings"]] == ["low_quality"]


async def test_hash_of_a_good_image_has_no_warning(api: Api) -> None:
    assert (await upload(api, SAMPLE_B)).json()["warnings"] == []


async def test_hash_needs_the_match_scope(api: Api) -> None:
    response = await upload(api, SAMPLE_B, scopes="hashes:submit")

    assert error_of(response) == (403, "insufficient_scope")


async def test_hash_needs_a_token(api: Api) -> None:
    response = await api.client.post("/v1/hash", files={"image": ("a.jpg", SAMPLE_B)})

    assert error_of(response) == (401, "missing_token")


async def test_hash_stores_nothing(api: Api) -> None:
    tables = ("hashes", "contributions", "audit_events")
    before = [await api.sql(f"select count(*) from {t}") for t in tables]  # noqa: S608

    assert (await upload(api, SAMPLE_B)).status_code == 200

    assert [await api.sql(f"select count(*) from {t}") for t in tables] == before  # noqa: S608


async def test_upload_is_never_written_to_disk(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """FastAPI's forms spool files over 1 MiB to a temporary file; this route must not."""

    def no_disk(*args: object, **kwargs: object) -> None:
        raise AssertionError("the upload was spooled to disk")

    monkeypatch.setattr(tempfile, "TemporaryFile", no_disk)
    data = encode(noise(1000, 800))
    assert len(data) > 2 * 1024 * 1024

    response = await upload(api, data, signal_types="sha256")

    assert response.status_code == 200, response.text


async def test_unknown_signal_type_is_refused(api: Api) -> None:
    response = await upload(api, SAMPLE_B, signal_types="pdq,tmk")

    assert error_of(response) == (422, "unknown_signal_type")


async def test_invalid_option_value_is_refused(api: Api) -> None:
    response = await upload(api, SAMPLE_B, dihedral="sometimes")

    assert error_of(response) == (422, "validation_error")


async def test_unknown_form_field_is_refused(api: Api) -> None:
    response = await upload(api, SAMPLE_B, colour="blue")

    assert error_of(response) == (422, "validation_error")


async def test_form_without_an_image_is_refused(api: Api) -> None:
    response = await api.client.post(
        "/v1/hash",
        data={"dihedral": "true"},
        files={"other": ("x", b"y")},
        headers=api.auth("alpha"),
    )

    assert error_of(response) == (422, "missing_image")


async def test_body_that_is_not_multipart_is_refused(api: Api) -> None:
    response = await api.client.post(
        "/v1/hash",
        content=SAMPLE_B,
        headers={**api.auth("alpha"), "Content-Type": "image/jpeg"},
    )

    assert error_of(response) == (415, "unsupported_media_type")


async def test_malformed_multipart_body_is_refused(api: Api) -> None:
    response = await api.client.post(
        "/v1/hash",
        content=b"--xyz\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--xyz--\r\n",
        headers={**api.auth("alpha"), "Content-Type": "multipart/form-data; boundary=xyz"},
    )

    assert error_of(response) == (400, "malformed_upload")


async def test_two_files_in_one_request_are_refused(api: Api) -> None:
    image = encode(scene())
    response = await api.client.post(
        "/v1/hash",
        files=[("image", ("a.png", image)), ("image", ("b.png", image))],
        headers=api.auth("alpha"),
    )

    assert error_of(response) == (400, "malformed_upload")


async def test_refused_upload_is_audited_as_rejected(api: Api) -> None:
    response = await upload(api, b"")

    assert error_of(response) == (422, "image_unreadable")
    rows = await api.sql("select action, details from audit_events where action like 'request.%'")
    assert [row[0] for row in rows] == ["request.rejected"]
    assert "image_unreadable" in str(rows[0][1])


async def test_hash_returns_every_region_a_frame_was_taken_off(api: Api) -> None:

    from tests.hashing.test_regions import PICTURE, bordered

    data = encode(bordered(PICTURE, 30, (0, 0, 0)))

    body = (await upload(api, data)).json()
    plain = (await upload(api, data, regions=False)).json()

    assert body["hashes"] == plain["hashes"]  # the whole image's hashes, as before
    assert plain["regions"] == []
    region = body["regions"][0]
    assert region["region"] == "trimmed" and region["box"][0] >= 30
    assert [h["signal_type"] for h in region["hashes"]] == ["pdq"]
    assert region["hashes"][0]["quality"] is not None
