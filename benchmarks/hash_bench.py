"""Image hashing throughput: hashshare's pipeline against the naive full-decode path, same run.

- ``naive``: what python-threatexchange and imagehash do by default: decode the whole image
  with Pillow, convert to RGB, then `pdqhash.compute`, `imagehash.phash` and
  `imagehash.dhash` on the full-size pixels.
- ``hashshare``: `hashshare.hashing.hashers.hash_file` with the same three types (one
  decode; JPEGs reduced in the DCT domain while the short side stays at least 512 pixels,
  then resampled onto PDQ's sampling grid for PDQ; see hashing/images.py).
- ``hashshare-default``: the CLI's default set (pdq, phash, dhash, md5, sha256).
- ``hashshare-regions``: the same with the regions a frame was taken off (hashing/regions.py),
  what `POST /v1/match/image` does by default.
- ``submission``: and the two central crops a submission stores: what `POST /v1/hash` and
  `hashshare hash` do by default.
- ``regions+dihedral``: and the 8 PDQ rotations and mirrors of each (`dihedral`).

Images: the four 12-megapixel phone photos of Meta's PDQ test set
(`shared/data/pdq/reg-test-input/exif-rotn`) and, as more 12-megapixel JPEGs, six other
reference photos (PDQ quality 100) scaled up to 4000x3000 with a little noise (quality 90).
Throughput is measured on 1 core (a loop) and 2 cores (a process pool of 2, warmed up
first), the paths interleaved round by round; the best round is reported (the median beside
it). Then the bits hashshare moves from the naive path. The second table is the evidence for
the reduction: PDQ distance from the full decode of decodes reduced by 2, 4 and 8 and hashed
as is, of a box reduction of the full decode and of a 2-pixel crop (PDQ's own sensitivity to
where its samples fall), of Meta's C++ CLI's 512x512 nearest-neighbour resize (a yardstick:
Meta's two reference tools disagree by that much), and of hashshare's pipeline; with the time
per image (decode and PDQ) where it means something.

Run from the repository root::

    .venv/bin/python benchmarks/hash_bench.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar

import imagehash
import numpy as np
import pdqhash
from PIL import Image, ImageOps

from hashshare.hashing.hashers import DEFAULT_TYPES, hash_file, pdq
from hashshare.hashing.images import reduction_for
from hashshare.signals import REGISTRY

T = TypeVar("T")
DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "pdq"
REAL = sorted((DATA / "reg-test-input" / "exif-rotn").glob("*.jpg"))
SYNTHETIC_SOURCES = [
    DATA / "reg-test-input" / "dih" / "bridge-1-original.jpg",
    DATA / "reg-test-input" / "pen-and-coaster.png",
    # labelme photos of PDQ quality 100 (q0003 and q0004 are featureless: quality 3 and 4)
    *(
        DATA / "reg-test-input" / "labelme-subset" / f"{n}.jpg"
        for n in ("q0122", "q0291", "q0746", "q1050")
    ),
]


def naive(path: Path) -> tuple[str, ...]:
    image = Image.open(path).convert("RGB")
    bits, _quality = pdqhash.compute(np.asarray(image))
    return (
        np.packbits(bits.astype(np.uint8)).tobytes().hex(),
        str(imagehash.phash(image)),
        str(imagehash.dhash(image)),
    )


def ours(path: Path) -> tuple[str, ...]:
    hashes = hash_file(path, ("pdq", "phash", "dhash"))
    return tuple(hashes.hex(name) for name in ("pdq", "phash", "dhash"))


def ours_default(path: Path) -> tuple[str, ...]:
    hashes = hash_file(path, DEFAULT_TYPES)
    return tuple(hashes.hex(name) for name in DEFAULT_TYPES)


def ours_regions(path: Path) -> tuple[str, ...]:
    hashes = hash_file(path, DEFAULT_TYPES, regions=True)
    return tuple(hashes.hex(name) for name in DEFAULT_TYPES)


def ours_submission(path: Path) -> tuple[str, ...]:
    hashes = hash_file(path, DEFAULT_TYPES, regions=True, central=True)
    return tuple(hashes.hex(name) for name in DEFAULT_TYPES)


def ours_regions_dihedral(path: Path) -> tuple[str, ...]:
    hashes = hash_file(path, DEFAULT_TYPES, dihedral=True, regions=True)
    return tuple(hashes.hex(name) for name in DEFAULT_TYPES)


PATHS: dict[str, Callable[[Path], tuple[str, ...]]] = {
    "naive": naive,
    "hashshare": ours,
    "hashshare-default": ours_default,
    "hashshare-regions": ours_regions,
    "submission": ours_submission,
    "regions+dihedral": ours_regions_dihedral,
}


def synthesize(folder: Path) -> list[Path]:
    rng = np.random.default_rng(4)
    out = []
    for source in SYNTHETIC_SOURCES:
        image = Image.open(source).convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC)
        noisy = np.asarray(image, dtype=np.int16) + rng.normal(0, 4, (3000, 4000, 3)).astype(
            np.int16
        )
        path = folder / f"{source.stem}-4000x3000.jpg"
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(path, quality=90)
        out.append(path)
    return out


def one_core(function: Callable[[Path], tuple[str, ...]], paths: Sequence[Path]) -> float:
    started = time.perf_counter()
    for path in paths:
        function(path)
    return len(paths) / (time.perf_counter() - started)


def two_cores(function: Callable[[Path], tuple[str, ...]], paths: Sequence[Path]) -> float:
    with ProcessPoolExecutor(max_workers=2) as pool:
        list(pool.map(function, paths[:2]))  # start and warm both workers
        started = time.perf_counter()
        list(pool.map(function, paths))
        return len(paths) / (time.perf_counter() - started)


def decode_reduced(path: Path, factor: int) -> Image.Image:
    """Upright RGB pixels decoded at 1/factor in the DCT domain (Pillow's draft mode)."""
    image = Image.open(path)
    if factor > 1:
        image.draft(None, (image.width // factor, image.height // factor))
    return ImageOps.exif_transpose(image).convert("RGB")


def meta_cli(image: Image.Image) -> Image.Image:
    """What Meta's C++ pdq-photo-hasher hashes: any image over 512 on a side resized to
    512x512 by CImg's default nearest-neighbour `resize` (pdqio.cpp, DOWNSAMPLE_DIMS)."""
    pixels = np.asarray(image)
    rows = np.arange(512) * pixels.shape[0] // 512
    cols = np.arange(512) * pixels.shape[1] // 512
    return Image.fromarray(np.ascontiguousarray(pixels[rows][:, cols]))


def distance(a: bytes, b: bytes) -> int:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def timed(function: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    value = function()
    return value, 1000 * (time.perf_counter() - started)


def pdq_of_draft(path: Path, factor: int) -> bytes:
    return pdq(decode_reduced(path, factor)).value


COLUMNS = ("1/2", "1/4", "1/8", "box 1/4", "crop 2px", "Meta 512", "hashshare")


def reduction_table(paths: Sequence[Path]) -> None:
    print(
        "\nPDQ bits changed (vs the full decode, orientation applied to all), and ms per image"
        "\n  1/2, 1/4, 1/8: JPEG decoded reduced in the DCT domain and hashed as is"
        "\n  box 1/4: full decode, box-filtered by 4 (not the JPEG decoder: ~same bits)"
        "\n  crop 2px: full decode less 2 pixels at the top and left (PDQ's own sensitivity)"
        "\n  Meta 512: full decode resized to 512x512 by nearest neighbour, as Meta's C++ CLI"
        "\n  hashshare: decoded reduced, resampled onto PDQ's grid (hash_file, pdq only)"
    )
    print(
        f"{'image':<32}{'size':>11}{'full ms':>8}"
        + "".join(f"{name:>12}" for name in COLUMNS)
        + f"{'chosen':>8}"
    )
    spread: dict[str, list[int]] = {name: [] for name in COLUMNS}
    for path in paths:
        full_image, decode_ms = timed(partial(decode_reduced, path, 1))
        full, hash_ms = timed(partial(lambda image: pdq(image).value, full_image))
        full_ms = decode_ms + hash_ms
        width, height = full_image.size
        runs: dict[str, tuple[bytes, float | None]] = {}
        for factor in (2, 4, 8):
            runs[f"1/{factor}"] = timed(partial(pdq_of_draft, path, factor))
        runs["box 1/4"] = (pdq(full_image.reduce(4)).value, None)
        runs["crop 2px"] = (pdq(full_image.crop((2, 2, width, height))).value, None)
        runs["Meta 512"] = (pdq(meta_cli(full_image)).value, None)
        runs["hashshare"] = timed(partial(lambda p: hash_file(p, ("pdq",)).values["pdq"], path))
        cells = []
        for name in COLUMNS:
            value, ms = runs[name]
            bits = distance(full, value)
            spread[name].append(bits)
            cells.append(f"{bits:>3} b" + (f" {ms:>4.0f}ms" if ms is not None else ""))
        stored = Image.open(path).size
        print(
            f"{path.name:<32}{f'{width}x{height}':>11}{full_ms:>8.0f}"
            + "".join(f"{c:>12}" for c in cells)
            + f"{'1/' + str(reduction_for(*stored)):>8}"
        )
    print(
        f"{'median / max bits':<51}"
        + "".join(f"{statistics.median(v):>7.0f} / {max(v):<2}" for v in spread.values())
    )


def agreement(paths: Sequence[Path]) -> None:
    """Bits hashshare moves from the naive path (full decode, orientation applied to both)."""
    moved: dict[str, list[int]] = {"pdq": [], "phash": [], "dhash": []}
    for path in paths:
        image = decode_reduced(path, 1)
        bits, _quality = pdqhash.compute(np.asarray(image))
        full = {
            "pdq": np.packbits(bits.astype(np.uint8)).tobytes(),
            "phash": bytes.fromhex(str(imagehash.phash(image))),
            "dhash": bytes.fromhex(str(imagehash.dhash(image))),
        }
        hashes = hash_file(path, ("pdq", "phash", "dhash"))
        for name, values in moved.items():
            values.append(distance(full[name], hashes.values[name]))
    print(
        "Bits hashshare moves from the full decode (orientation applied to both), max / median: "
        + ", ".join(
            f"{name} {max(values)} / {statistics.median(values):.0f}"
            for name, values in moved.items()
        )
        + " (match thresholds: "
        + ", ".join(f"{name} {REGISTRY[name].default_max_distance}" for name in moved)
        + ")"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best one is reported")
    args = parser.parse_args()
    print(
        f"python {platform.python_version()}, Pillow {Image.__version__}, pdqhash "
        f"{pdqhash.__version__}, imagehash {imagehash.__version__}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory() as folder:
        synthetic = synthesize(Path(folder))
        images = [*REAL, *synthetic]
        print(
            f"{len(REAL)} real + {len(synthetic)} synthetic 12-megapixel JPEGs; "
            f"best and median of {args.repeat} rounds; types pdq+phash+dhash unless noted"
        )
        for function in PATHS.values():
            function(images[0])  # warm caches and imports
        one: dict[str, list[float]] = {name: [] for name in PATHS}
        two: dict[str, list[float]] = {name: [] for name in PATHS}
        names = list(PATHS)
        for round_ in range(args.repeat):  # interleaved and rotated: load elsewhere hits all
            for name in names[round_ % 3 :] + names[: round_ % 3]:
                function = PATHS[name]
                one[name].append(one_core(function, images))
                two[name].append(two_cores(function, images * 2))
        base_1, base_2 = max(one["naive"]), max(two["naive"])
        print(
            f"\n{'path':<20}{'1 core img/s':>14}{'(median)':>10}{'x naive':>9}"
            f"{'2 cores img/s':>15}{'(median)':>10}{'x naive':>9}{'ms/img':>8}"
        )
        for name in PATHS:
            r1, r2 = max(one[name]), max(two[name])
            print(
                f"{name:<20}{r1:>14.2f}{statistics.median(one[name]):>10.2f}{r1 / base_1:>9.1f}"
                f"{r2:>15.2f}{statistics.median(two[name]):>10.2f}{r2 / base_2:>9.1f}"
                f"{1000 / r1:>8.0f}"
            )
        agreement(images)
        reduction_table(images)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
