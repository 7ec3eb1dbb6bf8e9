"""What POST /v1/match/image queries for an image's hashes (`plan_queries`)."""

from __future__ import annotations

from hashshare.hashing.hashers import DIHEDRAL, ImageHashes, PdqHash, RegionHashes
from hashshare.hashing.service import plan_queries

FLOOR = 50


def pdq_value(seed: int) -> bytes:
    return bytes((seed + i) % 256 for i in range(32))


def image(quality: int, regions: list[RegionHashes] | None = None) -> ImageHashes:
    return ImageHashes(
        values={
            "pdq": pdq_value(1),
            "phash": b"\x01" * 8,
            "dhash": b"\x02" * 8,
            "md5": b"\x03" * 16,
        },
        pdq_quality=quality,
        regions=regions or [],
    )


def region(name: str, seed: int, quality: int) -> RegionHashes:
    return RegionHashes(name, (0, 0, 10, 10), {"pdq": pdq_value(seed)}, quality)


def test_the_whole_image_is_queried_first_then_each_region() -> None:
    planned = plan_queries(image(90, [region("trimmed", 2, 80), region("framed", 3, 70)]), FLOOR)

    assert [(name, where, transform) for name, where, transform, _ in planned] == [
        ("pdq", "whole", "original"),
        ("phash", "whole", None),
        ("dhash", "whole", None),
        ("md5", "whole", None),
        ("pdq", "trimmed", "original"),
        ("pdq", "framed", "original"),
    ]


def test_a_featureless_image_queries_only_its_file_hashes() -> None:
    planned = plan_queries(image(49, [region("framed", 3, 90)]), FLOOR)

    assert [name for name, _, _, _ in planned] == ["md5"]


def test_a_featureless_region_is_not_queried() -> None:
    planned = plan_queries(image(90, [region("trimmed", 2, 20), region("framed", 3, 60)]), FLOOR)

    assert {where for _, where, _, _ in planned} == {"whole", "framed"}


def test_a_region_with_the_whole_images_hash_is_queried_once() -> None:
    planned = plan_queries(image(90, [region("trimmed", 1, 90)]), FLOOR)

    assert [where for name, where, _, _ in planned if name == "pdq"] == ["whole"]


def test_with_dihedral_each_rotation_and_mirror_is_queried() -> None:
    variants = {name: PdqHash(pdq_value(10 + i), 90) for i, name in enumerate(DIHEDRAL)}
    hashes = ImageHashes(
        values={"pdq": variants["original"].value}, pdq_quality=90, dihedral=variants
    )

    planned = plan_queries(hashes, FLOOR)

    assert [transform for _, _, transform, _ in planned] == list(DIHEDRAL)
