"""Decoding untrusted images into the pixels every perceptual hash is computed from.

There is one pipeline, used by `hashshare hash`, `POST /v1/hash` and `POST /v1/match/image`
alike, so that a hash submitted from one and queried from another agree:

1. Refuse more than `max_bytes` bytes before anything is parsed.
2. Identify the format from the content (never from a file name or a declared type) and
   refuse formats outside `formats`.
3. Read the size from the header and refuse more than `max_pixels` pixels before a single
   pixel is decoded: a decompression bomb is never expanded.
4. Decode the first frame only (animated GIF, WebP and PNG, multi-page TIFF).
5. Reduce large images by 2, 4 or 8 while the short side stays at least `MIN_SIDE` pixels:
   JPEGs in the DCT domain while decoding (Pillow's draft mode, which also never allocates
   the full-size bitmap), other formats by a box filter after decoding. Images whose short
   side is under 1024 pixels are hashed at full size, exactly as python-threatexchange does.
6. Convert to RGB: palette, greyscale, 16-bit and CMYK images through Pillow's conversions;
   alpha is dropped, not composited, so the colour under transparent pixels is hashed (as
   python-threatexchange does).
7. Apply the EXIF orientation, so the hash is of the picture as people see it, which is what
   survives re-encoding by platforms that bake the orientation in. python-threatexchange
   hashes the stored pixels instead; for the few images with a non-normal orientation tag
   the two differ by a rotation or mirror, which dihedral PDQ matching finds.
8. Resample a reduced image onto PDQ's grid (`Reduced.on_pdq_grid`): bilinear, to a
   multiple of 128 pixels a side (about half the reduced size, at least 384), placed so that
   the 64 points PDQ samples per axis, and its filter window, fall where they fall in the
   full-size image. PDQ is computed from these pixels; imagehash's hashes from the reduced
   pixels before this step (`DecodedImage.plain_pixels`).

Why step 8. PDQ (the `pdqhash` package, Meta's C++) box-filters the whole image twice with a
window of ceil(side / 128) pixels and keeps 64 samples per axis, at pixels
floor((i + 0.5) * side / 64); a bit flips whenever its DCT coefficient crosses the median,
and in most photos a few coefficients sit within a fraction of a percent of it. A decode
reduced by 4 and hashed as is samples 1.5-4.5 full-size pixels away from the full-size
points, unevenly, and that alone moves PDQ by 2-18 bits (median 4) on the benchmark's
12-megapixel JPEGs. It is not the JPEG decoder: a box reduction of the full decode moves as
many (the same on 9 of the 10 images); cropping 2 pixels off the full decode moves 0-6.
At 128k pixels a side PDQ's window is exactly k pixels, spanning side / 128 full-size pixels
as the full-size window does, and its 64 samples are evenly spaced, so one scale and offset
per axis (fitted to the 64 full-size sample points, to within half a full-size pixel) lines
the grids up. Measured by benchmarks/hash_bench.py on those JPEGs: PDQ 0-2 bits from the
full decode (median 0), phash and dhash 0-2 and 0, at 18-19 times the throughput of decoding
and hashing at full size. For scale, Meta's own C++ hasher, which first resizes every image
over 512 pixels a side to 512x512 by nearest neighbour, lands 6-30 bits (median 9) from the
full decode on the same images. Rotations and mirror images (dihedral hashes) are put on
their own grids, from the reduced pixels. Images hashed at full size (step 5) are not
resampled, so their PDQ is exactly python-threatexchange's.
"""

from __future__ import annotations

import io
import math
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from hashshare.errors import HashshareError
from hashshare.hashing import DEFAULT_FORMATS, DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS

MIN_SIDE = 512
REDUCTION_FACTORS = (8, 4, 2)
# PDQ keeps 64 samples per axis, box-filtered with a window of ceil(side / 128) pixels; at a
# multiple of 128 pixels a side the samples are evenly spaced and the window exact (step 8).
PDQ_GRID = 128
MIN_GRID_SIDE = 384
EXIF_ORIENTATION_TAG = 0x0112

# EXIF orientation → the transposition that shows the picture upright (as ImageOps does).
_ORIENTATION_FIX = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class ImageError(HashshareError):
    """The upload cannot be hashed."""

    status_code = 422
    code = "image_unreadable"


class ImageTooLarge(ImageError):
    status_code = 413
    code = "image_too_large"


class ImageUnreadable(ImageError):
    status_code = 422
    code = "image_unreadable"


class ImageHashingTimeout(ImageError):
    status_code = 422
    code = "image_hashing_timeout"


class UnsupportedImageFormat(ImageError):
    status_code = 415
    code = "unsupported_image_format"


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """What an image may be: its size in bytes and pixels, and its format."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    formats: tuple[str, ...] = DEFAULT_FORMATS

    def check_size(self, size: int) -> None:
        if size > self.max_bytes:
            raise ImageTooLarge(
                f"the image is {size} bytes; the limit is {self.max_bytes}",
                details={"bytes": size, "max_bytes": self.max_bytes},
            )


@dataclass(frozen=True, slots=True)
class Reduced:
    """Pixels decoded at 1/factor of a picture's full size, and how they lie on it.

    Pixel j along an axis covers full-size pixels [j * factor, (j + 1) * factor), the last
    one partly when the side is not a multiple of the factor; on a `reversed` axis (the
    picture was mirrored or turned after decoding) that partial pixel comes first.
    """

    image: Image.Image = field(repr=False)
    full: tuple[int, int]
    factor: int
    reversed: tuple[bool, bool] = (False, False)

    def transpose(self, method: Image.Transpose) -> Reduced:
        (x_axis, x_turn), (y_axis, y_turn) = _AXES[method]
        return Reduced(
            image=self.image.transpose(method),
            full=(self.full[x_axis], self.full[y_axis]),
            factor=self.factor,
            reversed=(self.reversed[x_axis] != x_turn, self.reversed[y_axis] != y_turn),
        )

    def on_pdq_grid(self) -> Image.Image:
        """Resampled to `grid_size`, with PDQ's sample points on the full-size ones (step 8).

        One scale and offset per axis: the scale full / size, so that PDQ's window spans as
        many full-size pixels as at full size, and the offset that puts PDQ's 64 sample
        points on the full-size ones on average (to within half a full-size pixel). Edge
        pixels are repeated where that reaches a pixel or two past the border.
        """
        size = grid_size(*self.full, self.factor)
        edges = []
        for side, target, extent, turned in zip(
            self.full, size, self.image.size, self.reversed, strict=True
        ):
            scale = side / target
            offset = statistics.fmean(
                at_full - scale * at_grid
                for at_full, at_grid in zip(
                    pdq_sample_points(side), pdq_sample_points(target), strict=True
                )
            )
            origin = side - extent * self.factor if turned else 0
            edges.append(
                ((offset - origin) / self.factor, (offset + scale * target - origin) / self.factor)
            )
        pad = max(
            0,
            *(
                math.ceil(max(-low, high - extent))
                for (low, high), extent in zip(edges, self.image.size, strict=True)
            ),
        )
        image = self.image
        if pad:
            padding = ((pad, pad), (pad, pad), (0, 0))
            image = Image.fromarray(np.pad(np.asarray(image), padding, mode="edge"))
        (left, right), (top, bottom) = edges
        box = (left + pad, top + pad, right + pad, bottom + pad)
        return image.resize(size, Image.Resampling.BILINEAR, box=box)


# Each transposition's new x and y axes: (old axis, reversed?).
_AXES: dict[Image.Transpose, tuple[tuple[int, bool], tuple[int, bool]]] = {
    Image.Transpose.FLIP_LEFT_RIGHT: ((0, True), (1, False)),
    Image.Transpose.FLIP_TOP_BOTTOM: ((0, False), (1, True)),
    Image.Transpose.ROTATE_90: ((1, False), (0, True)),
    Image.Transpose.ROTATE_180: ((0, True), (1, True)),
    Image.Transpose.ROTATE_270: ((1, True), (0, False)),
    Image.Transpose.TRANSPOSE: ((1, False), (0, False)),
    Image.Transpose.TRANSVERSE: ((1, True), (0, True)),
}


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the file said about itself, and how it was reduced before hashing."""

    format: str
    width: int
    height: int
    animated: bool
    orientation: int
    reduction: int


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """Upright RGB pixels ready to hash, and what the file said about itself.

    `pixels` are on PDQ's grid when the image was reduced (step 8); `reduced` are the
    upright reduced pixels they were resampled from (None when hashed at full size), from
    which `transposed` puts each rotation and mirror image on its own grid.
    """

    pixels: Image.Image = field(repr=False)
    info: ImageInfo
    reduced: Reduced | None = None

    @property
    def plain_pixels(self) -> Image.Image:
        """The upright pixels as decoded (and reduced), not resampled onto PDQ's grid.

        imagehash's hashes are computed from these: they shrink the image to 8-64 pixels a
        side with their own filter, and keep their bits better from here than from the
        grid-aligned pixels (benchmarks/hash_bench.py).
        """
        return self.pixels if self.reduced is None else self.reduced.image

    def transposed(self, method: Image.Transpose) -> Image.Image:
        """Pixels of the rotated or mirrored picture, ready to hash.

        Mirroring grid-aligned pixels would not do: PDQ's sample points are not symmetric
        about the centre, so the mirror image of an aligned grid is off the mirrored one.
        """
        if self.reduced is None:
            return self.pixels.transpose(method)
        return self.reduced.transpose(method).on_pdq_grid()


def reduction_for(width: int, height: int) -> int:
    """The largest factor of 2, 4 or 8 that keeps the short side at least MIN_SIDE."""
    short = min(width, height)
    for factor in REDUCTION_FACTORS:
        if short // factor >= MIN_SIDE:
            return factor
    return 1


def grid_size(width: int, height: int, factor: int) -> tuple[int, int]:
    """The size a width x height image reduced by `factor` is resampled to for hashing."""
    return (_grid_side(width, factor), _grid_side(height, factor))


def _grid_side(side: int, factor: int) -> int:
    return PDQ_GRID * max(MIN_GRID_SIDE // PDQ_GRID, round(side / (2 * factor * PDQ_GRID)))


def pdq_sample_points(side: int) -> list[float]:
    """Where PDQ's 64 samples along a side are centred, in pixel-edge coordinates.

    pdqhash box-filters twice with a window of ceil(side / 128) pixels (an even window is
    centred half a pixel to the right, so twice a whole pixel), then keeps the pixels at
    floor((i + 0.5) * side / 64).
    """
    window = (side + 127) // 128
    shift = 1.5 if window % 2 == 0 else 0.5
    return [(2 * i + 1) * side // 128 + shift for i in range(64)]


def read_file(path: Path, limits: ImageLimits) -> bytes:
    """Read a file, refusing it by its size before reading it."""
    try:
        limits.check_size(os.stat(path).st_size)
        with open(path, "rb") as handle:
            data = handle.read(limits.max_bytes + 1)
    except OSError as exc:
        raise ImageUnreadable(f"cannot read the file: {exc.strerror or exc}") from None
    limits.check_size(len(data))  # the file may have grown since stat
    return data


def decode(data: bytes, limits: ImageLimits) -> DecodedImage:
    """Decode image bytes by the pipeline above; raise an ImageError for anything else."""
    limits.check_size(len(data))
    if not data:
        raise ImageUnreadable("the file is empty")
    _raise_pillow_guard(limits.max_pixels)
    try:
        return _decode(data, limits)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning, MemoryError):
        raise ImageTooLarge(
            f"the image has too many pixels to decode (limit {limits.max_pixels})",
            details={"max_pixels": limits.max_pixels},
        ) from None
    except Exception as exc:
        # Decoders of hostile files raise anything from OSError to struct.error and
        # IndexError; all of them mean the same thing to the caller.
        raise ImageUnreadable(f"the image cannot be decoded: {_describe(exc)}") from None


def _decode(data: bytes, limits: ImageLimits) -> DecodedImage:
    try:
        image = Image.open(io.BytesIO(data), formats=limits.formats)
    except UnidentifiedImageError:
        claimed = _signature_format(data)
        if claimed in limits.formats:
            raise ImageUnreadable(
                f"the file starts like a {claimed} image but cannot be read"
            ) from None
        raise UnsupportedImageFormat(
            f"not an image in an accepted format ({', '.join(limits.formats)})",
            details={"accepted_formats": list(limits.formats)},
        ) from None
    with image:
        width, height = image.size
        if width * height > limits.max_pixels:
            raise ImageTooLarge(
                f"the image is {width}x{height} pixels; the limit is {limits.max_pixels}",
                details={"width": width, "height": height, "max_pixels": limits.max_pixels},
            )
        image_format = str(image.format)
        animated = bool(getattr(image, "is_animated", False))
        image.seek(0)
        factor = reduction_for(width, height)
        if factor > 1 and image.format in ("JPEG", "MPO"):
            image.draft(None, (width // factor, height // factor))
        image.load()
        orientation = _orientation(image)
        pixels = image.convert("RGB")
    done = round(width / pixels.width)
    if factor > done:
        pixels = pixels.reduce(factor // done)
    fix = _ORIENTATION_FIX.get(orientation)
    reduced = None
    if factor > 1:
        reduced = Reduced(pixels, (width, height), factor)
        if fix is not None:
            reduced = reduced.transpose(fix)
        pixels = reduced.on_pdq_grid()
    elif fix is not None:
        pixels = pixels.transpose(fix)
    info = ImageInfo(image_format, width, height, animated, orientation, reduction=factor)
    return DecodedImage(pixels=pixels, info=info, reduced=reduced)


# Leading bytes of the accepted formats: a file that starts like one but cannot be opened is
# a broken image (unreadable), not an image of another format (unsupported).
_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


def _signature_format(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    for signature, name in _SIGNATURES:
        if data.startswith(signature):
            return name
    return None


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1-8); 1 when absent or unreadable: bad EXIF is not a bad image."""
    try:
        value = image.getexif().get(EXIF_ORIENTATION_TAG, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) and value in range(1, 9) else 1


def _raise_pillow_guard(max_pixels: int) -> None:
    # Our own check (after reading the header, before decoding) is the limit. Pillow's global
    # guard stays as a backstop, raised only so that it never fires below a configured limit.
    current = Image.MAX_IMAGE_PIXELS
    if current is not None and current < max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels


def _describe(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:200]
