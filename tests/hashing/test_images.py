"""The decoding pipeline: orientation, modes, frames, reduction of large images and the
resampling of reduced ones onto PDQ's grid."""

from __future__ import annotations

import io
from pathlib import Path

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageOps

from hashshare.hashing.hashers import DIHEDRAL, hash_bytes, hash_file, pdq
from hashshare.hashing.images import (
    PDQ_GRID,
    ImageLimits,
    decode,
    grid_size,
    pdq_sample_points,
    reduction_for,
)
from tests.hashing.pictures import PDQ_DATA, distance, encode, scene

UPRIGHT = scene(320, 240)
# EXIF orientation → how the stored pixels relate to the upright picture.
STORED_AS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def pdq_hex(data: bytes) -> str:
    return hash_bytes(data, ["pdq"]).hex("pdq")


def with_orientation(image: Image.Image, orientation: int, fmt: str = "PNG") -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(image, fmt, exif=exif)


@pytest.mark.parametrize("orientation", sorted(STORED_AS))
def test_exif_orientation_is_applied_before_hashing(orientation: int) -> None:
    stored = UPRIGHT.transpose(STORED_AS[orientation])

    data = with_orientation(stored, orientation)

    assert pdq_hex(data) == pdq(UPRIGHT).hex
    assert decode(data, ImageLimits()).info.orientation == orientation


def test_exif_orientation_is_applied_to_jpeg() -> None:
    stored = UPRIGHT.transpose(STORED_AS[6])

    ours = pdq_hex(with_orientation(stored, 6, "JPEG"))

    assert distance(ours, pdq(UPRIGHT).hex) <= 8
    assert distance(ours, pdq(stored).hex) > 64


def test_invalid_exif_orientation_is_ignored() -> None:
    assert pdq_hex(with_orientation(UPRIGHT, 42)) == pdq(UPRIGHT).hex


def test_palette_image_hashes_as_its_rgb_pixels() -> None:
    palette = UPRIGHT.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)

    assert pdq_hex(encode(palette)) == pdq(palette.convert("RGB")).hex


def test_palette_image_with_transparency_is_hashed() -> None:
    palette = UPRIGHT.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)

    data = encode(palette, transparency=0)

    assert pdq_hex(data) == pdq(palette.convert("RGB")).hex


def test_greyscale_image_hashes_as_its_rgb_pixels() -> None:
    grey = UPRIGHT.convert("L")

    assert pdq_hex(encode(grey)) == pdq(grey.convert("RGB")).hex


def test_16_bit_greyscale_image_hashes_as_pillow_converts_it() -> None:
    """As python-threatexchange: Pillow's conversion, which clips values above 255."""
    levels = np.asarray(UPRIGHT.convert("L"), dtype=np.uint16)
    sixteen = Image.fromarray((levels * 2).astype("<u2"))
    assert sixteen.mode == "I;16"

    decoded = decode(encode(sixteen), ImageLimits())

    assert pdq(decoded.pixels).hex == pdq(sixteen.convert("RGB")).hex


def test_cmyk_jpeg_hashes_within_a_few_bits_of_its_rgb_source() -> None:
    data = encode(UPRIGHT.convert("CMYK"), "JPEG", quality=95)

    assert decode(data, ImageLimits()).info.format == "JPEG"
    assert distance(pdq_hex(data), pdq(UPRIGHT).hex) <= 8


def test_alpha_is_dropped_not_composited() -> None:
    """The colour under transparent pixels is hashed, as python-threatexchange does."""
    rgba = UPRIGHT.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))

    assert pdq_hex(encode(rgba)) == pdq(UPRIGHT).hex


def test_greyscale_with_alpha_is_hashed_as_its_grey_levels() -> None:
    grey_alpha = UPRIGHT.convert("LA")

    assert pdq_hex(encode(grey_alpha)) == pdq(UPRIGHT.convert("L").convert("RGB")).hex


def animated(fmt: str) -> bytes:
    first, second = UPRIGHT, scene(320, 240, seed=99)
    options = {"duration": 100, "loop": 0} if fmt != "TIFF" else {}
    return encode(first, fmt, save_all=True, append_images=[second], **options)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG", "TIFF"])
def test_animated_or_multipage_image_is_hashed_by_its_first_frame(fmt: str) -> None:
    data = animated(fmt)
    still = encode(UPRIGHT, fmt, **({"lossless": True} if fmt == "WEBP" else {}))

    decoded = decode(data, ImageLimits())

    assert decoded.info.animated
    assert distance(pdq(decoded.pixels).hex, pdq_hex(still)) <= 2
    second_frame = pdq(scene(320, 240, seed=99)).hex
    assert distance(pdq(decoded.pixels).hex, second_frame) > 64


def test_format_is_taken_from_the_content_not_the_name() -> None:
    assert decode(encode(UPRIGHT, "BMP"), ImageLimits()).info.format == "BMP"


@pytest.mark.parametrize(
    ("size", "factor"),
    [((1023, 2000), 1), ((1024, 1024), 2), ((3024, 4032), 4), ((6000, 8000), 8), ((200, 9000), 1)],
)
def test_reduction_keeps_the_short_side_at_least_512(size: tuple[int, int], factor: int) -> None:
    assert reduction_for(*size) == factor


def test_large_jpeg_is_reduced_while_decoding_then_put_on_pdqs_grid() -> None:
    data = encode(scene(2200, 1100), "JPEG", quality=92)

    decoded = decode(data, ImageLimits())

    assert decoded.info.reduction == 2
    assert decoded.plain_pixels.size == (1100, 550)
    assert decoded.pixels.size == grid_size(2200, 1100, 2) == (512, 384)


def test_reduced_jpeg_hash_is_within_4_bits_of_the_full_decode() -> None:
    data = encode(scene(2200, 1100), "JPEG", quality=92)
    full_decode = Image.open(io.BytesIO(data)).convert("RGB")

    assert distance(pdq_hex(data), pdq(full_decode).hex) <= 4


REAL_PHOTOS = sorted((PDQ_DATA / "reg-test-input" / "exif-rotn").glob("*.jpg"))


def upright_full_decode(path: Path) -> Image.Image:
    return ImageOps.exif_transpose(Image.open(path)).convert("RGB")


@pytest.mark.parametrize("path", REAL_PHOTOS, ids=[p.name for p in REAL_PHOTOS])
def test_12_megapixel_photo_hashes_within_4_bits_of_its_full_decode(path: Path) -> None:
    """0-2 bits; the 1/4 decode hashed as is (no PDQ grid) lands 2, 4, 6 and 4 bits away."""
    hashes = hash_file(path, ["pdq"])

    assert hashes.image is not None and hashes.image.reduction == 4
    assert distance(hashes.hex("pdq"), pdq(upright_full_decode(path)).hex) <= 4


def test_12_megapixel_photo_phash_and_dhash_equal_the_full_decode() -> None:
    path = REAL_PHOTOS[0]
    full = upright_full_decode(path)

    hashes = hash_file(path, ["phash", "dhash"])

    assert hashes.hex("phash") == str(imagehash.phash(full))
    assert hashes.hex("dhash") == str(imagehash.dhash(full))


@pytest.mark.parametrize("orientation", sorted(STORED_AS))
def test_reduced_image_is_put_on_the_grid_of_the_upright_picture(orientation: int) -> None:
    """2207x1103 reduces by 2 to 1104x552: the last pixel is half a pixel, and after a flip
    it comes first. Ignoring that lands 6 bits away for orientations 3 and 7."""
    stored = scene(2207, 1103, seed=3).transpose(STORED_AS[orientation])
    data = with_orientation(stored, orientation, "JPEG")
    full = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")

    assert decode(data, ImageLimits()).info.reduction == 2
    assert distance(pdq_hex(data), pdq(full).hex) <= 4


def test_dihedral_hashes_of_a_reduced_image_are_within_4_bits_of_the_full_decodes() -> None:
    """Each variant is put on its own grid: mirroring the aligned pixels lands 6-12 bits off."""
    data = encode(scene(2200, 1100), "JPEG", quality=92)
    full = Image.open(io.BytesIO(data)).convert("RGB")

    variants = hash_bytes(data, ["pdq"], dihedral=True).dihedral

    for name, method in DIHEDRAL.items():
        expected = pdq(full if method is None else full.transpose(method)).hex
        assert distance(variants[name].hex, expected) <= 4, name


@pytest.mark.parametrize("side", [4032, 3024, 4000, 3000, 2207, 1103, 1024])
def test_pdq_grid_samples_fall_on_the_full_size_samples(side: int) -> None:
    """At a multiple of 128 pixels PDQ's samples are evenly spaced and its window spans
    side / 128 full-size pixels: one scale and offset put them within half a pixel."""
    for factor in (2, 4, 8):
        target = grid_size(side, side, factor)[0]
        full, grid = pdq_sample_points(side), pdq_sample_points(target)
        scale = side / target
        offset = sum(f - scale * g for f, g in zip(full, grid, strict=True)) / 64

        assert target % PDQ_GRID == 0
        assert max(abs(offset + scale * g - f) for f, g in zip(full, grid, strict=True)) <= 0.5
        assert (target + 127) // 128 * scale == pytest.approx(side / 128)


def test_large_png_is_reduced_by_a_box_filter() -> None:
    big = scene(2200, 1100)

    decoded = decode(encode(big), ImageLimits())

    assert decoded.info.reduction == 2
    assert np.array_equal(np.asarray(decoded.plain_pixels), np.asarray(big.reduce(2)))
    assert decoded.pixels.size == (512, 384)
    assert distance(pdq(decoded.pixels).hex, pdq(big).hex) <= 4


def test_image_under_1024_pixels_on_the_short_side_is_hashed_at_full_size() -> None:
    sample = PDQ_DATA / "pytx" / "sample-b.jpg"  # 1600x1004

    decoded = decode(sample.read_bytes(), ImageLimits())

    assert (decoded.info.reduction, decoded.pixels.size) == (1, (1600, 1004))
    assert decoded.reduced is None
    assert pdq(decoded.pixels).hex == pdq(Image.open(sample).convert("RGB")).hex
