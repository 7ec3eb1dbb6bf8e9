"""Image hashing throughput: hashshare's pipeline against the naive full-decode path, same run.

- ``naive``: what python-threatexchange and imagehash do by default: decode the whole image
  with Pillow, convert to RGB, then `pdqhash.compute`, `imagehash.phash` and
  `imagehash.dhash` on the full-size pixels.
- ``hashshare``: `hashshare.hashing.hashers.hash_file` with the same three types (one
  decode; JPEGs reduced in the DCT domain while the short side stays at least 512 pixels).
- ``hashshare-default``: the CLI's default set (pdq, phash, dhash, md5, sha256).

Images: the four 12-megapixel phone photos of Meta's PDQ test set
(`shared/data/pdq/reg-test-input/exif-rotn`) and, as more 12-megapixel JPEGs, six other
reference photos (PDQ quality 100) scaled up to 4000x3000 with a little noise (quality 90).
Throughput is measured on 1 core (a loop) and 2 cores (a process pool of 2, warmed up
first), the paths interleaved round by round; the best round is reported (the median beside
it). The second table is the evidence for the reduction: PDQ distance between the full
decode and a decode reduced by 2, 4 and 8, and time per image for each.

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
from pathlib import Path

import imagehash
import numpy as np
import pdqhash
from PIL import Image, ImageOps

from hashshare.hashing.hashers import DEFAULT_TYPES, hash_file, pdq
from hashshare.hashing.images import reduction_for

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


PATHS: dict[str, Callable[[Path], tuple[str, ...]]] = {
    "naive": naive,
    "hashshare": ours,
    "hashshare-default": ours_default,
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
    image = Image.open(path)
    if factor > 1:
        image.draft(None, (image.width // factor, image.height // factor))
    return image.convert("RGB")


def distance(a: bytes, b: bytes) -> int:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def reduction_table(paths: Sequence[Path]) -> None:
    print("\nPDQ bits changed by reduced JPEG decoding (vs full decode), and ms per image")
    print(
        f"{'image':<32}{'size':>11}{'full ms':>9}"
        + "".join(f"{'1/' + str(f):>12}" for f in (2, 4, 8))
        + f"{'chosen':>8}"
    )
    spread: dict[int, list[int]] = {2: [], 4: [], 8: []}
    for path in paths:
        started = time.perf_counter()
        full_image = decode_reduced(path, 1)
        full = pdq(full_image).value
        full_ms = 1000 * (time.perf_counter() - started)
        cells = []
        for factor in (2, 4, 8):
            started = time.perf_counter()
            reduced = pdq(decode_reduced(path, factor)).value
            ms = 1000 * (time.perf_counter() - started)
            bits = distance(full, reduced)
            spread[factor].append(bits)
            cells.append(f"{bits:>3} b {ms:>4.0f}ms")
        size = f"{full_image.width}x{full_image.height}"
        chosen = reduction_for(*full_image.size)
        print(
            f"{path.name:<32}{size:>11}{full_ms:>9.0f}"
            + "".join(f"{c:>12}" for c in cells)
            + f"{'1/' + str(chosen):>8}"
        )
    print(
        f"{'median / max bits':<52}"
        + "".join(f"{statistics.median(v):>6.0f} / {max(v):<3}" for v in spread.values())
    )


def upright_full(path: Path) -> bytes:
    """PDQ of the full decode with the EXIF orientation applied: what reduction alone moves."""
    return pdq(ImageOps.exif_transpose(Image.open(path).convert("RGB"))).value


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
        agree = [distance(upright_full(p), bytes.fromhex(ours(p)[0])) for p in images]
        print(
            "PDQ distance, hashshare vs full decode (orientation applied to both): median "
            f"{statistics.median(agree):.0f}, max {max(agree)} bits of the 31-bit budget"
        )
        reduction_table(images)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
