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
   the full-size bitmap), other formats by a box filter after decoding. PDQ filters the
   image down to 64x64 anyway; on 12-megapixel photos this is about 13 times faster and
   moves phash/dhash by 0 bits and PDQ by 2-6 bits on real photos (more on some heavily
   upscaled ones): PDQ's own sensitivity to resolution, which any downscale shows alike
   (benchmarks/hash_bench.py). Reducing by at most 2 (MIN_SIDE 1024) would keep PDQ
   within 2 bits of the full decode on the real photos at a third of the speed-up.
   Images whose short side is under 1024 pixels are hashed at full size, exactly as
   python-threatexchange does.
6. Convert to RGB: palette, greyscale, 16-bit and CMYK images through Pillow's conversions;
   alpha is dropped, not composited, so the colour under transparent pixels is hashed (as
   python-threatexchange does).
7. Apply the EXIF orientation, so the hash is of the picture as people see it, which is what
   survives re-encoding by platforms that bake the orientation in. python-threatexchange
   hashes the stored pixels instead; for the few images with a non-normal orientation tag
   the two differ by a rotation or mirror, which dihedral PDQ matching finds.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from hashshare.errors import HashshareError
from hashshare.hashing import DEFAULT_FORMATS, DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS

MIN_SIDE = 512
REDUCTION_FACTORS = (8, 4, 2)
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
class DecodedImage:
    """Upright RGB pixels ready to hash, and what the file said about itself."""

    pixels: Image.Image = field(repr=False)
    format: str
    width: int
    height: int
    animated: bool
    orientation: int
    reduction: int


def reduction_for(width: int, height: int) -> int:
    """The largest factor of 2, 4 or 8 that keeps the short side at least MIN_SIDE."""
    short = min(width, height)
    for factor in REDUCTION_FACTORS:
        if short // factor >= MIN_SIDE:
            return factor
    return 1


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
    if fix is not None:
        pixels = pixels.transpose(fix)
    return DecodedImage(
        pixels=pixels,
        format=image_format,
        width=width,
        height=height,
        animated=animated,
        orientation=orientation,
        reduction=factor,
    )


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
