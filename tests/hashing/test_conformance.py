"""PDQ against Meta's published reference hashes (tests/data/pdq, see its README)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hashshare.hashing.hashers import LOW_QUALITY, hash_file
from tests.hashing.pictures import PDQ_DATA, Reference, distance, references

REFERENCES = references()
# The published hashes of these are of the stored pixels; hashshare applies the orientation.
EXIF_ROTATED = {"exif-rotn-3.jpg", "exif-rotn-6.jpg", "exif-rotn-8.jpg"}
UPRIGHT = [ref for ref in REFERENCES if ref.path.name not in EXIF_ROTATED]
PYTX = [ref for ref in REFERENCES if ref.expected_quality is not None]
DIHEDRAL_FILES = {
    "bridge-2-rotate-90.jpg": "rotate_90",
    "bridge-3-rotate-180.jpg": "rotate_180",
    "bridge-4-rotate-270.jpg": "rotate_270",
    "bridge-5-flipx.jpg": "flip_top_bottom",
    "bridge-6-flipy.jpg": "flip_left_right",
    "bridge-7-flip-plus-1.jpg": "transpose",
    "bridge-8-flip-minus-1.jpg": "transverse",
}


def ids(refs: list[Reference]) -> list[str]:
    return [ref.name for ref in refs]


def pdq_of(path: Path) -> str:
    return hash_file(path, ["pdq"]).hex("pdq")


def test_reference_set_is_complete() -> None:
    assert len(REFERENCES) == 24
    assert all(ref.path.is_file() for ref in REFERENCES)


@pytest.mark.parametrize("ref", UPRIGHT, ids=ids(UPRIGHT))
def test_pdq_is_within_the_published_tolerance_of_the_reference(ref: Reference) -> None:
    assert distance(pdq_of(ref.path), ref.expected_pdq) <= ref.max_distance


def test_pytx_references_are_reproduced_exactly() -> None:
    """Same decoder (Pillow) and hasher (pdqhash): tolerance 0 for every pytx image."""
    assert [ref.max_distance for ref in PYTX] == [0] * len(PYTX)
    assert {ref.name: pdq_of(ref.path) for ref in PYTX} == {
        ref.name: ref.expected_pdq for ref in PYTX
    }


@pytest.mark.parametrize("ref", PYTX, ids=ids(PYTX))
def test_pdq_quality_equals_the_published_quality(ref: Reference) -> None:
    assert hash_file(ref.path, ["pdq"]).pdq_quality == ref.expected_quality


def test_low_quality_reference_image_is_reported_as_low_quality() -> None:
    hashes = hash_file(PDQ_DATA / "pytx" / "I16.png", ["pdq"])

    assert hashes.pdq_quality == 36
    assert hashes.pdq_quality < LOW_QUALITY
    assert hashes.low_quality


def test_high_quality_reference_image_is_not_reported_as_low_quality() -> None:
    assert not hash_file(PDQ_DATA / "pytx" / "sample-b.jpg", ["pdq"]).low_quality


@pytest.mark.parametrize("name", sorted(EXIF_ROTATED))
def test_exif_rotated_photo_is_hashed_upright(name: str) -> None:
    """The reference is of the stored pixels: ours (orientation applied) is a rotation away."""
    [ref] = [r for r in REFERENCES if r.path.name == name]

    assert distance(pdq_of(ref.path), ref.expected_pdq) > 100


@pytest.mark.parametrize("name", sorted(EXIF_ROTATED))
def test_exif_rotated_photo_matches_the_stored_pixel_reference_by_dihedral(name: str) -> None:
    [ref] = [r for r in REFERENCES if r.path.name == name]
    variants = hash_file(ref.path, ["pdq"], dihedral=True).dihedral

    assert min(distance(v.value, ref.expected_pdq) for v in variants.values()) <= 16


@pytest.mark.parametrize("name", sorted(DIHEDRAL_FILES))
def test_rotated_and_mirrored_copies_are_found_by_the_original_s_dihedral_hashes(
    name: str,
) -> None:
    dih = PDQ_DATA / "reg-test-input" / "dih"
    original = hash_file(dih / "bridge-1-original.jpg", ["pdq"], dihedral=True).dihedral
    copy = pdq_of(dih / name)

    nearest = min(original, key=lambda t: distance(original[t].value, copy))
    assert (nearest, distance(original[nearest].value, copy) <= 4) == (DIHEDRAL_FILES[name], True)


@pytest.mark.parametrize(
    "path", sorted((PDQ_DATA / "bridge-mods").glob("*.jpg")), ids=lambda p: p.name
)
def test_bridge_modification_is_within_16_bits_of_the_original(path: Path) -> None:
    assert distance(pdq_of(path), pdq_of(PDQ_DATA / "bridge-mods" / "aaa-orig.jpg")) <= 16


@pytest.mark.parametrize(
    "path", sorted((PDQ_DATA / "misc-images" / "modes").glob("*")), ids=lambda p: p.name
)
def test_every_pillow_mode_is_within_2_bits_of_the_original(path: Path) -> None:
    original = pdq_of(PDQ_DATA / "misc-images" / "modes" / "original.jpg")
    assert distance(pdq_of(path), original) <= 2


@pytest.mark.parametrize("name", ["c.png", "small.jpg", "wee.jpg"])
def test_small_and_odd_sized_images_are_hashed(name: str) -> None:
    hashes = hash_file(PDQ_DATA / "misc-images" / name)

    assert set(hashes.values) == {"pdq", "phash", "dhash", "md5", "sha256"}
    assert hashes.pdq_quality is not None
