"""Normalising before hashing: the regions of an image a frame is taken off, and their hashes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from hashshare.cli import main
from hashshare.hashing.hashers import hash_bytes
from hashshare.hashing.regions import central_regions, find_regions, rotated_views
from tests.hashing.pictures import PDQ_DATA, distance, encode

# A photograph (a scene drawn on a gradient has uniform rows: a frame, by design).
PHOTO = PDQ_DATA / "reg-test-input" / "dih" / "bridge-1-original.jpg"
PICTURE = Image.open(PHOTO).convert("RGB").resize((400, 300))
TYPES = ("pdq", "phash", "dhash")


def bordered(image: Image.Image, width: int, colour: tuple[int, int, int]) -> Image.Image:
    canvas = Image.new("RGB", (image.width + 2 * width, image.height + 2 * width), colour)
    canvas.paste(image, (width, width))
    return canvas


def captioned(image: Image.Image) -> Image.Image:
    """Meme caption bands: white, with black text, above and below the picture."""
    band = image.height // 5
    canvas = Image.new("RGB", (image.width, image.height + 2 * band), "white")
    canvas.paste(image, (0, band))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=band // 2)
    draw.text((12, band // 4), "they don't want you to see", fill="black", font=font)
    draw.text(
        (30, band * 5 + band // 4 + image.height - band * 4), "share it", fill="black", font=font
    )
    return canvas


def screenshot(image: Image.Image) -> Image.Image:
    """A viewer window: a dark title bar with its name, grey margins, a status line."""
    inner = image.resize((image.width * 4 // 5, image.height * 4 // 5))
    canvas = Image.new("RGB", (inner.width + 60, inner.height + 110), (236, 236, 236))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, canvas.width, 24), fill=(40, 44, 52))
    draw.text((8, 4), "Photo - Viewer", fill="white", font=ImageFont.load_default(size=14))
    canvas.paste(inner, (30, 54))
    draw.text((30, 60 + inner.height), "1 of 12 | shared 3h ago", fill=(90, 90, 90))
    return canvas


def best_pdq(original: bytes, copy: bytes) -> tuple[int, str]:
    """Smallest PDQ distance from the original's whole hash to any region of the copy."""
    whole = hash_bytes(original, ("pdq",)).values["pdq"]
    hashes = hash_bytes(copy, ("pdq",), regions=True)
    found = [(distance(whole, hashes.values["pdq"]), "whole")]
    found += [(distance(whole, region.values["pdq"]), region.name) for region in hashes.regions]
    return min(found)


def test_a_picture_without_a_frame_is_one_region() -> None:
    assert [region.name for region in find_regions(PICTURE)] == ["whole"]
    assert hash_bytes(encode(PICTURE), TYPES, regions=True).regions == []


@pytest.mark.parametrize("colour", [(0, 0, 0), (255, 255, 255), (200, 30, 90)])
def test_a_uniform_border_is_trimmed_back_to_the_picture(colour: tuple[int, int, int]) -> None:
    regions = find_regions(bordered(PICTURE, 30, colour))

    assert regions[1].name == "trimmed"
    left, top, right, bottom = regions[1].box
    assert 30 <= left <= 36 and 30 <= top <= 36
    assert 394 <= right - 30 <= 400 and 294 <= bottom - 30 <= 300


@pytest.mark.parametrize(
    "frame", [captioned, screenshot, lambda image: bordered(image, 40, (0, 0, 0))]
)
def test_the_framed_picture_is_found_within_pdqs_default_distance(frame: object) -> None:
    original = encode(PICTURE)
    copy = encode(frame(PICTURE), "JPEG", quality=80)  # type: ignore[operator]

    assert (
        distance(
            hash_bytes(original, ("pdq",)).values["pdq"], hash_bytes(copy, ("pdq",)).values["pdq"]
        )
        > 31
    )  # the whole image's hash misses it
    nearest, region = best_pdq(original, copy)
    assert nearest <= 31
    assert region in ("trimmed", "framed", "banded")


def test_each_region_is_hashed_with_pdq_only() -> None:
    hashes = hash_bytes(encode(captioned(PICTURE)), ("pdq", "phash", "md5"), regions=True)

    assert hashes.regions
    for region in hashes.regions:
        assert set(region.values) == {"pdq"}
        assert region.pdq_quality is not None
        assert region.as_record()["region"] == region.name
    assert hash_bytes(encode(captioned(PICTURE)), ("phash",), regions=True).regions == []


def test_regions_are_not_hashed_unless_asked_for() -> None:
    assert hash_bytes(encode(captioned(PICTURE)), TYPES).regions == []


def test_the_cli_prints_the_regions_of_each_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "meme.png"
    path.write_bytes(encode(captioned(PICTURE)))

    assert main(["hash", "--no-progress", str(path)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert [region["region"] for region in record["regions"]]
    assert all(len(region["pdq"]) == 64 for region in record["regions"])

    assert main(["hash", "--no-progress", "--no-regions", str(path)]) == 0
    assert "regions" not in json.loads(capsys.readouterr().out)


def test_a_region_box_is_in_the_upright_images_full_size_pixels() -> None:
    big = bordered(PICTURE.resize((1600, 1200)), 160, (0, 0, 0))  # reduced by 2 to hash
    hashes = hash_bytes(encode(big, "JPEG", quality=90), ("pdq",), regions=True)

    assert hashes.image is not None and hashes.image.reduction > 1
    left, top, right, bottom = hashes.regions[0].box
    assert 160 <= left <= 176 and 160 <= top <= 176
    assert 1744 <= right <= 1760 and 1344 <= bottom <= 1360


def test_the_central_crops_cut_the_same_share_off_each_side() -> None:
    regions = central_regions(Image.new("RGB", (400, 200)))

    assert [(region.name, region.box) for region in regions] == [
        ("central-95", (10, 5, 390, 195)),
        ("central-91", (18, 9, 382, 191)),
    ]


def test_central_crops_are_hashed_only_for_the_submission_side() -> None:
    data = encode(PICTURE)

    assert hash_bytes(data, TYPES, regions=True).regions == []
    hashes = hash_bytes(data, TYPES, regions=True, central=True)
    assert [region.name for region in hashes.regions] == [
        "central-95",
        "central-91",
        "rotated+3",
        "rotated-3",
    ]
    assert all(set(region.values) == {"pdq"} for region in hashes.regions)


@pytest.mark.parametrize("share", [0.03, 0.04])
def test_a_cropped_copy_is_near_a_stored_central_crop(share: float) -> None:
    width, height = PICTURE.size
    dx, dy = round(width * share), round(height * share)
    copy = encode(PICTURE.crop((dx, dy, width - dx, height - dy)), "JPEG", quality=80)
    stored = hash_bytes(encode(PICTURE), ("pdq",), regions=True, central=True)
    query = hash_bytes(copy, ("pdq",)).values["pdq"]

    assert distance(query, stored.values["pdq"]) > 31  # the whole image's hash misses it
    assert min(distance(query, region.values["pdq"]) for region in stored.regions) <= 31


def test_the_cli_prints_the_central_crops_a_submission_stores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(encode(PICTURE))

    assert main(["hash", "--no-progress", str(path)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert [region["region"] for region in record["regions"]] == [
        "central-95",
        "central-91",
        "rotated+3",
        "rotated-3",
    ]


def test_a_caption_over_a_plain_sky_is_taken_off_without_the_sky() -> None:
    picture = PICTURE.copy()
    ImageDraw.Draw(picture).rectangle((0, 0, picture.width, 90), fill=(120, 170, 225))  # sky
    band = picture.height // 5
    meme = captioned(picture)

    regions = {region.name: region.box for region in find_regions(meme)}

    assert regions["framed"][1] > band + 80  # `framed` takes the sky for a second frame
    left, top, right, bottom = regions["banded"]
    assert band <= top <= band + 6 and left <= 3 and right >= picture.width - 3
    assert band + picture.height - 6 <= bottom <= band + picture.height


def test_a_turned_view_is_cut_to_hide_the_corners() -> None:
    (region, pixels), (other, _) = rotated_views(Image.new("RGB", (400, 300), "white"))

    assert (region.name, other.name) == ("rotated+3", "rotated-3")
    left, top, right, bottom = region.box
    assert 400 - right == left and 300 - bottom == top  # centred
    assert (right - left) / (bottom - top) == pytest.approx(4 / 3, abs=0.02)
    assert 0.93 < (right - left) / 400 < 0.94  # 1 / (cos 3 + 4/3 sin 3) of each side
    assert pixels.size == (right - left, bottom - top)
    assert pixels.getpixel((0, 0)) == (255, 255, 255)  # no black corner left


@pytest.mark.parametrize("angle", [2.5, -3.5])
def test_a_turned_and_cropped_copy_is_near_a_stored_turned_view(angle: float) -> None:
    width, height = PICTURE.size
    cut = math.sin(math.radians(abs(angle))) * 0.6
    dx, dy = round(width * cut), round(height * cut)
    turned = PICTURE.rotate(angle, Image.Resampling.BICUBIC)
    copy = encode(turned.crop((dx, dy, width - dx, height - dy)), "JPEG", quality=80)
    stored = hash_bytes(encode(PICTURE), ("pdq",), regions=True, central=True)
    query = hash_bytes(copy, ("pdq",)).values["pdq"]
    nearest = {region.name: distance(query, region.values["pdq"]) for region in stored.regions}

    assert distance(query, stored.values["pdq"]) > 31  # the whole image's hash misses it
    assert min(nearest.values()) <= 31


@pytest.mark.parametrize("size", [(1, 1), (1, 2), (2, 1), (2, 2), (3, 1), (1, 5), (4, 4)])
@pytest.mark.parametrize("fill", ["uniform", "stripes"])
def test_a_tiny_image_is_its_whole_only(size: tuple[int, int], fill: str) -> None:
    """Once, a 1x1 picture peeled one edge to nothing and looped there for ever."""
    image = Image.new("RGB", size, (90, 120, 30))
    if fill == "stripes":
        for x in range(0, size[0], 2):
            for y in range(size[1]):
                image.putpixel((x, y), (250, 250, 250))

    assert [region.name for region in find_regions(image)] == ["whole"]
