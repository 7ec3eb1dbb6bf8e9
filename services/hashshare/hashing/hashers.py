"""Computing hashes of an image: every requested signal type from one decode.

- `pdq`: Meta's C++ reference through the `pdqhash` package, on the RGB pixels of the
  pipeline in `images.py`, with its quality (0-100; below 50 the hash is unreliable).
- `phash`, `dhash`, `ahash`, `whash`: imagehash's 64-bit hashes of the same decode, converted
  to greyscale once: for a large image the reduced pixels before they are resampled onto
  PDQ's grid (imagehash shrinks them to 8-64 pixels a side with its own filter, and its bits
  move less from there than from the resampled pixels). `whash`
  is computed at a fixed 64x64 scale instead of imagehash's default (the largest power of
  two under the short side, up to 2048x2048, which is slow and varies with resolution).
- `md5`, `sha256`: of the file bytes; no decoding is needed when only these are asked for.

Dihedral PDQ hashes are the hashes of the 8 actually rotated and mirrored images.
`pdqhash.compute_dihedral` derives them from one DCT instead; measured on Meta's reference
images its outputs land 60-92 bits away from the hash of the rotated image for some of
them (tests/hashing/test_hashers.py shows it), so it is not used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import imagehash
import numpy as np
import pdqhash  # type: ignore[import-untyped]
from PIL import Image

from hashshare.errors import ValidationFailed
from hashshare.hashing.images import DecodedImage, ImageInfo, ImageLimits, decode, read_file
from hashshare.hashing.regions import Box, central_regions, find_regions, rotated_views

PERCEPTUAL_TYPES = ("pdq", "phash", "dhash", "ahash", "whash")
FILE_TYPES = ("md5", "sha256")
SIGNAL_TYPES = PERCEPTUAL_TYPES + FILE_TYPES
DEFAULT_TYPES = ("pdq", "phash", "dhash", "md5", "sha256")
LOW_QUALITY = 50
REGION_TYPES = ("pdq",)
WHASH_IMAGE_SCALE = 64

# Name of each dihedral transform → Pillow's transposition (rotations counter-clockwise).
DIHEDRAL: dict[str, Image.Transpose | None] = {
    "original": None,
    "rotate_90": Image.Transpose.ROTATE_90,
    "rotate_180": Image.Transpose.ROTATE_180,
    "rotate_270": Image.Transpose.ROTATE_270,
    "flip_left_right": Image.Transpose.FLIP_LEFT_RIGHT,
    "flip_top_bottom": Image.Transpose.FLIP_TOP_BOTTOM,
    "transpose": Image.Transpose.TRANSPOSE,
    "transverse": Image.Transpose.TRANSVERSE,
}


@dataclass(frozen=True, slots=True)
class PdqHash:
    value: bytes
    quality: int

    @property
    def hex(self) -> str:
        return self.value.hex()


@dataclass(frozen=True, slots=True)
class RegionHashes:
    """The perceptual hashes of one region of an image (regions.py), by signal type."""

    name: str
    box: Box  # in the upright picture's full-size pixels
    values: dict[str, bytes]
    pdq_quality: int | None = None
    dihedral: dict[str, PdqHash] = field(default_factory=dict)

    def as_record(self) -> dict[str, Any]:
        """Flat text form: the region's name and box, its hashes, and its PDQ quality."""
        record: dict[str, Any] = {"region": self.name, "box": list(self.box)}
        record.update((name, value.hex()) for name, value in self.values.items())
        if self.pdq_quality is not None:
            record["pdq_quality"] = self.pdq_quality
        return record


@dataclass(frozen=True, slots=True)
class ImageHashes:
    """The hashes of one image, by signal type, as bytes.

    `values` are of the whole image; `regions` (when asked for) the PDQ hashes of the regions
    a frame was taken off.
    """

    values: dict[str, bytes]
    pdq_quality: int | None = None
    dihedral: dict[str, PdqHash] = field(default_factory=dict)
    image: ImageInfo | None = None
    regions: list[RegionHashes] = field(default_factory=list)

    def hex(self, signal_type: str) -> str:
        return self.values[signal_type].hex()

    @property
    def low_quality(self) -> bool:
        return self.pdq_quality is not None and self.pdq_quality < LOW_QUALITY

    def as_record(self) -> dict[str, Any]:
        """Flat text form: one field per signal type, plus the PDQ quality and the regions."""
        record: dict[str, Any] = {name: value.hex() for name, value in self.values.items()}
        if self.pdq_quality is not None:
            record["pdq_quality"] = self.pdq_quality
        if self.regions:
            record["regions"] = [region.as_record() for region in self.regions]
        return record


def parse_types(names: Iterable[str] | str | None) -> tuple[str, ...]:
    """Validate a selection of signal types (a list or comma-separated text), in our order."""
    if names is None:
        return DEFAULT_TYPES
    if isinstance(names, str):
        names = [part.strip() for part in names.split(",") if part.strip()]
    wanted = {name.lower() for name in names}
    unknown = sorted(wanted - set(SIGNAL_TYPES))
    if unknown:
        raise ValidationFailed(
            f"unknown signal types {', '.join(unknown)}; choose from {', '.join(SIGNAL_TYPES)}",
            code="unknown_signal_type",
            details={"unknown": unknown, "available": list(SIGNAL_TYPES)},
        )
    if not wanted:
        raise ValidationFailed("no signal type selected", code="unknown_signal_type")
    return tuple(name for name in SIGNAL_TYPES if name in wanted)


def pdq(pixels: Image.Image) -> PdqHash:
    """PDQ hash and quality of RGB pixels (Meta's reference implementation)."""
    bits, quality = pdqhash.compute(np.asarray(pixels))
    return PdqHash(np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes(), int(quality))


def pdq_dihedral(decoded: DecodedImage) -> dict[str, PdqHash]:
    """PDQ hashes of the 8 rotations and mirror images, by transform name.

    A reduced image is transposed before it is put on PDQ's grid, so that each variant is
    sampled where the full-size rotated or mirrored picture would be (images.py, step 8).
    """
    return {
        name: pdq(decoded.pixels if method is None else decoded.transposed(method))
        for name, method in DIHEDRAL.items()
    }


def _imagehash_bytes(value: imagehash.ImageHash) -> bytes:
    return np.packbits(np.asarray(value.hash, dtype=np.uint8).flatten()).tobytes()


_IMAGEHASHERS: Mapping[str, Any] = {
    "phash": imagehash.phash,
    "dhash": imagehash.dhash,
    "ahash": imagehash.average_hash,
    "whash": lambda image: imagehash.whash(image, image_scale=WHASH_IMAGE_SCALE),
}


def hash_decoded(
    decoded: DecodedImage, types: Iterable[str], dihedral: bool = False
) -> tuple[dict[str, bytes], int | None, dict[str, PdqHash]]:
    """Perceptual hashes of decoded pixels: (values, pdq quality, dihedral pdq hashes)."""
    values: dict[str, bytes] = {}
    quality: int | None = None
    variants: dict[str, PdqHash] = {}
    wanted = set(types)
    if "pdq" in wanted:
        if dihedral:
            variants = pdq_dihedral(decoded)
            plain = variants["original"]
        else:
            plain = pdq(decoded.pixels)
        values["pdq"] = plain.value
        quality = plain.quality
    others = [name for name in PERCEPTUAL_TYPES[1:] if name in wanted]
    if others:
        grey = decoded.plain_pixels.convert("L")  # once, not once per imagehash function
        for name in others:
            values[name] = _imagehash_bytes(_IMAGEHASHERS[name](grey))
    return values, quality, variants


def hash_regions(
    decoded: DecodedImage, types: Iterable[str], dihedral: bool = False, central: bool = False
) -> list[RegionHashes]:
    """PDQ hashes of each region a frame was taken off (not the whole image), and with
    `central` (the submission side) of the canonical central crops and turned views.

    PDQ only: pHash and dHash of regions, matched against each other, cost more false matches
    than they find copies (README, "Robustness and the 64-bit defaults"); the whole image's
    keep their place beside its PDQ.
    """
    wanted = [name for name in REGION_TYPES if name in set(types)]
    found: list[RegionHashes] = []
    if not wanted:
        return found
    plain = decoded.plain_pixels
    factor = decoded.info.reduction
    views = [(region, plain.crop(region.box)) for region in find_regions(plain)[1:]]
    if central:
        views += [(region, plain.crop(region.box)) for region in central_regions(plain)]
        views += rotated_views(plain)
    for region, pixels in views:
        part = DecodedImage(pixels=pixels, info=decoded.info)
        values, quality, variants = hash_decoded(part, wanted, dihedral)
        box = (
            region.box[0] * factor,
            region.box[1] * factor,
            region.box[2] * factor,
            region.box[3] * factor,
        )
        found.append(RegionHashes(region.name, box, values, quality, variants))
    return found


def hash_bytes(
    data: bytes,
    types: Iterable[str] = DEFAULT_TYPES,
    limits: ImageLimits | None = None,
    dihedral: bool = False,
    regions: bool = False,
    central: bool = False,
) -> ImageHashes:
    """Hashes of an image file's bytes; the image is decoded once, and only if needed.

    With `regions`, also the PDQ hash of each region a frame was taken off; with `central`
    too, of the canonical central crops a submission stores (regions.py).
    """
    limits = limits or ImageLimits()
    wanted = parse_types(list(types))
    limits.check_size(len(data))
    values: dict[str, bytes] = {}
    quality: int | None = None
    variants: dict[str, PdqHash] = {}
    info: ImageInfo | None = None
    parts: list[RegionHashes] = []
    if any(name in PERCEPTUAL_TYPES for name in wanted):
        decoded = decode(data, limits)
        info = decoded.info
        values, quality, variants = hash_decoded(decoded, wanted, dihedral)
        if regions:
            parts = hash_regions(decoded, wanted, dihedral, central)
    if "md5" in wanted:
        values["md5"] = hashlib.md5(data, usedforsecurity=False).digest()
    if "sha256" in wanted:
        values["sha256"] = hashlib.sha256(data).digest()
    ordered = {name: values[name] for name in wanted}
    return ImageHashes(
        values=ordered, pdq_quality=quality, dihedral=variants, image=info, regions=parts
    )


def hash_file(
    path: Path | str,
    types: Iterable[str] = DEFAULT_TYPES,
    limits: ImageLimits | None = None,
    dihedral: bool = False,
    regions: bool = False,
    central: bool = False,
) -> ImageHashes:
    """Hashes of an image file, refused by its size before it is read."""
    limits = limits or ImageLimits()
    return hash_bytes(read_file(Path(path), limits), types, limits, dihedral, regions, central)
