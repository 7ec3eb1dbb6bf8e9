"""Hostile uploads: each gets a 4xx with a stable code, never a 500, and bounded memory."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable

from PIL import Image

from hashshare.config import Settings
from tests.conftest import ROOT, Api
from tests.hashing.http import error_of, upload
from tests.hashing.pictures import encode, noise, png_bomb, scene

JPEG = encode(scene(), "JPEG", quality=90)
PNG = encode(scene())


def corrupt_png() -> bytes:
    data = bytearray(PNG)
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)  # breaks the compressed stream and its CRC
    return bytes(data)


async def test_zero_byte_file_is_unreadable(api: Api) -> None:
    assert error_of(await upload(api, b"")) == (422, "image_unreadable")


async def test_truncated_jpeg_is_unreadable(api: Api) -> None:
    assert error_of(await upload(api, JPEG[: len(JPEG) // 2])) == (422, "image_unreadable")


async def test_truncated_png_is_unreadable(api: Api) -> None:
    assert error_of(await upload(api, PNG[: len(PNG) // 2])) == (422, "image_unreadable")


async def test_corrupt_png_is_unreadable(api: Api) -> None:
    assert error_of(await upload(api, corrupt_png(), filename="x.png")) == (
        422,
        "image_unreadable",
    )


async def test_header_only_image_is_unreadable(api: Api) -> None:
    assert error_of(await upload(api, PNG[:64])) == (422, "image_unreadable")


async def test_text_file_is_an_unsupported_format(api: Api) -> None:
    response = await upload(api, b"just some text, not an image\n", filename="notes.txt")

    assert error_of(response) == (415, "unsupported_image_format")


async def test_file_with_an_image_extension_but_other_content_is_refused(api: Api) -> None:
    ppm = encode(scene(), "PPM")  # an image, but not an accepted format

    assert error_of(await upload(api, ppm, filename="holiday.jpg")) == (
        415,
        "unsupported_image_format",
    )


async def test_image_with_the_wrong_extension_is_hashed_by_its_content(api: Api) -> None:
    response = await upload(api, PNG, filename="holiday.jpg")

    assert response.status_code == 200
    assert response.json()["image"]["format"] == "PNG"


async def test_svg_is_an_unsupported_format(api: Api) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'

    assert error_of(await upload(api, svg, filename="a.svg")) == (415, "unsupported_image_format")


async def test_format_outside_the_configured_ones_is_refused(
    settings: Settings, api_factory: Callable[[Settings], Awaitable[Api]]
) -> None:
    api = await api_factory(settings.model_copy(update={"image_formats": ["JPEG", "PNG"]}))
    await api.add_member("alpha")

    response = await upload(api, encode(scene(), "GIF"), filename="a.gif")

    assert error_of(response) == (415, "unsupported_image_format")
    assert response.json()["error"]["details"]["accepted_formats"] == ["JPEG", "PNG"]


async def test_decompression_bomb_is_refused_before_decoding(api: Api) -> None:
    bomb = png_bomb(9000, 9000)  # 80 KB that would decode to 81 megapixels
    assert len(bomb) < 100_000

    response = await upload(api, bomb, filename="bomb.png")

    assert error_of(response) == (413, "image_too_large")
    assert response.json()["error"]["details"]["max_pixels"] == 50_000_000


async def test_image_declaring_billions_of_pixels_is_refused(api: Api) -> None:
    response = await upload(api, png_bomb(100_000, 100_000, with_pixels=False))

    assert error_of(response) == (413, "image_too_large")


async def test_configured_pixel_limit_applies(
    settings: Settings, api_factory: Callable[[Settings], Awaitable[Api]]
) -> None:
    api = await api_factory(settings.model_copy(update={"max_image_pixels": 320 * 240 - 1}))
    await api.add_member("alpha")

    assert error_of(await upload(api, PNG)) == (413, "image_too_large")


async def test_image_over_the_upload_limit_is_too_large(
    settings: Settings, api_factory: Callable[[Settings], Awaitable[Api]]
) -> None:
    api = await api_factory(settings.model_copy(update={"max_upload_bytes": len(PNG) - 1}))
    await api.add_member("alpha")

    response = await upload(api, PNG)

    assert error_of(response) == (413, "image_too_large")
    assert response.json()["error"]["details"]["max_bytes"] == len(PNG) - 1


async def test_body_far_over_the_upload_limit_is_refused_before_it_is_read(
    settings: Settings, api_factory: Callable[[Settings], Awaitable[Api]]
) -> None:
    limits = {"max_upload_bytes": 2048, "max_body_bytes": 4096}
    api = await api_factory(settings.model_copy(update=limits))
    await api.add_member("alpha")

    response = await upload(api, bytes(1024 * 1024))

    assert error_of(response) == (413, "payload_too_large")


async def test_image_routes_accept_uploads_over_the_json_body_limit(
    settings: Settings, api_factory: Callable[[Settings], Awaitable[Api]]
) -> None:
    small_bodies = settings.model_copy(update={"max_body_bytes": 4096})
    api = await api_factory(small_bodies)
    await api.add_member("alpha")
    image = encode(noise(120, 90))
    assert len(image) > 4 * 4096

    assert (await upload(api, image)).status_code == 200
    assert (await upload(api, image, path="/v1/match/image")).status_code == 200


async def test_json_routes_keep_their_body_limit(
    settings: Settings, api_factory: Callable[[Settings], Awaitable[Api]]
) -> None:
    api = await api_factory(settings.model_copy(update={"max_body_bytes": 4096}))
    await api.add_member("alpha")

    response = await api.client.post(
        "/v1/match",
        content=b" " * 8192,
        headers={**api.auth("alpha"), "Content-Type": "application/json"},
    )

    assert error_of(response) == (413, "payload_too_large")


def test_memory_stays_bounded_when_a_bomb_is_refused() -> None:
    """A fresh process hashes a bomb: its peak memory barely moves (81 MP would be ~1 GB)."""
    script = textwrap.dedent(
        """
        import resource
        from hashshare.hashing.hashers import hash_bytes
        from hashshare.errors import HashshareError
        from tests.hashing.pictures import png_bomb
        bomb = png_bomb(9000, 9000)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            hash_bytes(bomb)
        except HashshareError as exc:
            print(exc.code)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print((after - before) // 1024)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )

    code, grown_mib = result.stdout.split()
    assert code == "image_too_large"
    assert int(grown_mib) < 20


async def test_a_one_pixel_image_is_hashed_and_matched_with_its_regions(api: Api) -> None:
    pixel = encode(Image.new("L", (1, 1), 0))

    hashed = await upload(api, pixel, regions=True)
    matched = await upload(api, pixel, path="/v1/match/image", regions=True)

    assert hashed.status_code == 200, hashed.text
    assert hashed.json()["image"]["width"] == 1
    assert matched.status_code == 200, matched.text


async def test_an_upload_that_takes_too_long_to_hash_is_refused(
    settings: Settings, api_factory: Callable[[Settings], Awaitable[Api]]
) -> None:
    api = await api_factory(settings.model_copy(update={"image_hash_seconds": 0.001}))
    await api.add_member("alpha")

    response = await upload(api, JPEG)

    assert error_of(response) == (422, "image_hashing_timeout")
    assert response.json()["error"]["details"] == {"max_seconds": 0.001}
