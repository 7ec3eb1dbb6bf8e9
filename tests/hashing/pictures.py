"""Test pictures: Meta's PDQ reference images, and images drawn with Pillow."""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from tests.conftest import ROOT

PDQ_DATA = ROOT / "tests" / "data" / "pdq"


@dataclass(frozen=True)
class Reference:
    path: Path
    expected_pdq: str
    expected_quality: int | None
    max_distance: int

    @property
    def name(self) -> str:
        return str(self.path.relative_to(PDQ_DATA))


def references() -> list[Reference]:
    """The rows of expected.csv (Meta's published PDQ hashes)."""
    with open(PDQ_DATA / "expected.csv", newline="") as handle:
        return [
            Reference(
                path=PDQ_DATA / row["path"],
                expected_pdq=row["expected_pdq"],
                expected_quality=int(row["expected_quality"]) if row["expected_quality"] else None,
                max_distance=int(row["max_distance"]),
            )
            for row in csv.DictReader(handle)
        ]


def distance(a: str | bytes, b: str | bytes) -> int:
    """Hamming distance of two hashes given as hex or bytes."""
    x = bytes.fromhex(a) if isinstance(a, str) else a
    y = bytes.fromhex(b) if isinstance(b, str) else b
    return (int.from_bytes(x, "big") ^ int.from_bytes(y, "big")).bit_count()


def scene(width: int = 320, height: int = 240, seed: int = 1) -> Image.Image:
    """An asymmetric RGB picture with structure at every scale (PDQ quality 100)."""
    rng = random.Random(seed)
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y = rng.randrange(width), rng.randrange(height)
        w, h = rng.randrange(width // 12, width // 3), rng.randrange(height // 12, height // 3)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        if rng.random() < 0.5:
            draw.rectangle((x, y, x + w, y + h), fill=colour)
        else:
            draw.ellipse((x, y, x + w, y + h), fill=colour)
    return image


def encode(image: Image.Image, fmt: str = "PNG", **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_bomb(width: int, height: int, with_pixels: bool = True) -> bytes:
    """A greyscale PNG of zeros: kilobytes that decode to width x height bytes.

    Without pixels, only the header declares the size (the data is missing).
    """
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    compressor = zlib.compressobj(9)
    row = bytes(width + 1)  # filter byte + pixels
    parts = [compressor.compress(row) for _ in range(height if with_pixels else 0)]
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", b"".join(parts))
        + chunk(b"IEND", b"")
    )


def noise(width: int, height: int, seed: int = 3) -> Image.Image:
    """Random pixels: a PNG of them barely compresses."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
