"""Robustness of each signal type to what re-uploaders do, and its false-match rate.

Corpus: the photographs bundled with scikit-image (every natural image that ships in the
wheel, not the synthetic ones; chelsea once though it has two names; the left image of the
stereo motorcycle pair only) and scikit-learn's sample images. Each original is encoded as
PNG and transformed the way a re-uploader would: JPEG quality 90/70/50/30; resize to
0.25/0.5/2x; central crop removing 5 % and 10 % of width and height; a black border of 10 %
of the short side; a caption band with text below the image; a semi-transparent watermark
text across it; greyscale; brightness +30 %; contrast +50 %; mirror; rotation by 90 degrees;
and a screenshot-like re-render (scaled to 80 % onto a window with a title bar and text,
saved as PNG); WebP at quality 50, at full size and shrunk to 256 pixels on the long side.
Transforms other than the JPEG and WebP ones are saved as PNG so that each row measures one
change.

Everything is hashed with hashshare's own pipeline (`hashshare.hashing.hashers.hash_bytes`).
For each signal type and threshold it reports recall (the share of originals whose transform
is within the threshold of the original) and the false-match rate: the share of all pairs
(a, b) drawn from the originals and their transforms where a and b come from different
originals and are within the threshold. `pdq+dihedral` queries with the 8 rotations and
mirror images of the query against the plain hash of the stored image, as
`POST /v1/match/image` with `dihedral` does. The expected number of false matches per query
in a set of 1 M hashes is printed twice: from the measured rate (0 means "below what this
corpus can measure", about 1 in the number of pairs) and from a model of uniformly random
bits (a lower bound: real hashes cluster). Last, the candidate default sets of
`POST /v1/match/image` (pdq; pdq+phash; pdq+phash+dhash): a copy is found when any of its
hashes is within its type's default distance of the original's.

Install the benchmark-only dependencies, then run from the repository root::

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/robustness.py            # table + benchmarks/results/robustness.png
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageEnhance, ImageFont

from hashshare.hashing.hashers import DIHEDRAL, hash_bytes
from hashshare.signals import REGISTRY

try:
    import matplotlib
    import skimage.data
    from sklearn.datasets import load_sample_images
except ImportError:
    sys.exit("benchmark dependencies missing: .venv/bin/pip install -e '.[bench]'")

matplotlib.use("Agg")
import matplotlib.pyplot as plt

RESULTS = Path(__file__).resolve().parent / "results"
# Natural images that ship inside the scikit-image wheel (no download).
SKIMAGE_PHOTOS = (
    "astronaut",
    "brick",
    "camera",
    "cell",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "microaneurysms",
    "moon",
    "page",
    "retina",
    "rocket",
    "text",
)
TYPES_64 = ("phash", "dhash", "ahash", "whash")
ROWS = ("pdq", "pdq+dihedral", *TYPES_64)
THRESHOLDS = {
    "pdq": (8, 16, 24, 31, 40, 48, 56, 64),
    "pdq+dihedral": (8, 16, 24, 31, 40, 48, 56, 64),
    **{name: (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16) for name in TYPES_64},
}
BITS = {"pdq": 256, "pdq+dihedral": 256, **{name: 64 for name in TYPES_64}}
SET_SIZE = 1_000_000

U8 = npt.NDArray[np.uint8]


def corpus() -> dict[str, Image.Image]:
    images: dict[str, Image.Image] = {}
    for name in SKIMAGE_PHOTOS:
        images[name] = Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
    left, _right, _disparity = skimage.data.stereo_motorcycle()
    images["motorcycle"] = Image.fromarray(left).convert("RGB")
    samples = load_sample_images()
    for filename, array in zip(samples.filenames, samples.images, strict=True):
        images[Path(filename).stem] = Image.fromarray(array).convert("RGB")
    return images


def encode(image: Image.Image, fmt: str = "PNG", **options: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(size, 8))


def jpeg(quality: int) -> Callable[[Image.Image], bytes]:
    return lambda image: encode(image, "JPEG", quality=quality)


def resize(scale: float) -> Callable[[Image.Image], bytes]:
    def apply(image: Image.Image) -> bytes:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        return encode(image.resize(size, Image.Resampling.LANCZOS))

    return apply


def crop(fraction: float) -> Callable[[Image.Image], bytes]:
    def apply(image: Image.Image) -> bytes:
        dx, dy = round(image.width * fraction / 2), round(image.height * fraction / 2)
        return encode(image.crop((dx, dy, image.width - dx, image.height - dy)))

    return apply


def shrink(image: Image.Image, longest: int) -> Image.Image:
    scale = longest / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def pad(image: Image.Image) -> bytes:
    border = round(min(image.size) * 0.10)
    canvas = Image.new("RGB", (image.width + 2 * border, image.height + 2 * border))
    canvas.paste(image, (border, border))
    return encode(canvas)


def caption(image: Image.Image) -> bytes:
    band = round(image.height * 0.18)
    canvas = Image.new("RGB", (image.width, image.height + band), "white")
    canvas.paste(image, (0, 0))
    draw = ImageDraw.Draw(canvas)
    draw.text(
        (image.width // 20, image.height + band // 4),
        "when you see it",
        fill="black",
        font=font(band // 2),
    )
    return encode(canvas)


def watermark(image: Image.Image) -> bytes:
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    size = max(image.width // 10, 8)
    for row in range(3):
        draw.text(
            (image.width // 10, image.height * (row + 1) // 4 - size // 2),
            "@reposter",
            fill=(255, 255, 255, 128),
            font=font(size),
        )
    return encode(Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB"))


def screenshot(image: Image.Image) -> bytes:
    inner = image.resize(
        (round(image.width * 0.8), round(image.height * 0.8)), Image.Resampling.BILINEAR
    )
    bar = max(round(image.height * 0.06), 12)
    margin = round(image.width * 0.1)
    canvas = Image.new(
        "RGB", (inner.width + 2 * margin, inner.height + bar + 2 * margin), (236, 236, 236)
    )
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, canvas.width, bar), fill=(40, 44, 52))
    draw.text((margin // 2, bar // 5), "Photo - Viewer", fill="white", font=font(bar * 3 // 5))
    canvas.paste(inner, (margin, bar + margin))
    draw.text(
        (margin, bar + margin + inner.height + margin // 4),
        "1 of 12  |  shared 3h ago",
        fill=(90, 90, 90),
        font=font(margin // 3),
    )
    return encode(canvas)


TRANSFORMS: dict[str, Callable[[Image.Image], bytes]] = {
    "jpeg-q90": jpeg(90),
    "jpeg-q70": jpeg(70),
    "jpeg-q50": jpeg(50),
    "jpeg-q30": jpeg(30),
    "resize-0.25": resize(0.25),
    "resize-0.5": resize(0.5),
    "resize-2": resize(2.0),
    "crop-5%": crop(0.05),
    "crop-10%": crop(0.10),
    "border": pad,
    "caption": caption,
    "watermark": watermark,
    "greyscale": lambda image: encode(image.convert("L").convert("RGB")),
    "brightness": lambda image: encode(ImageEnhance.Brightness(image).enhance(1.3)),
    "contrast": lambda image: encode(ImageEnhance.Contrast(image).enhance(1.5)),
    "mirror": lambda image: encode(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
    "rotate-90": lambda image: encode(image.transpose(Image.Transpose.ROTATE_90)),
    "screenshot": screenshot,
    "webp-q50": lambda image: encode(image, "WEBP", quality=50),
    "small-webp-q50": lambda image: encode(shrink(image, 256), "WEBP", quality=50),
}

# Candidate default sets of POST /v1/match/image: a query matches if any of its hashes does.
MATCH_SETS = (("pdq",), ("pdq", "phash"), ("pdq", "phash", "dhash"))
LARGE_SET = 10_000_000


@dataclass
class Hashed:
    """Hashes of all items: item i belongs to original `group[i]`; transform[i] or ''."""

    group: list[int]
    transform: list[str]
    plain: dict[str, U8]  # signal type → (items, bytes) array
    dihedral: U8  # (items, 8, 32): the 8 PDQ variants of each item


def hash_all(images: dict[str, Image.Image]) -> Hashed:
    group: list[int] = []
    transform: list[str] = []
    plain: dict[str, list[bytes]] = {name: [] for name in ("pdq", *TYPES_64)}
    dihedral: list[list[bytes]] = []
    types = ("pdq", *TYPES_64)
    for index, image in enumerate(images.values()):
        for name, apply in {"": encode, **TRANSFORMS}.items():
            hashes = hash_bytes(apply(image), types, dihedral=True)
            group.append(index)
            transform.append(name)
            for signal_type in types:
                plain[signal_type].append(hashes.values[signal_type])
            dihedral.append([hashes.dihedral[t].value for t in DIHEDRAL])
    return Hashed(
        group=group,
        transform=transform,
        plain={
            k: np.frombuffer(b"".join(v), np.uint8).reshape(len(v), -1) for k, v in plain.items()
        },
        dihedral=np.frombuffer(b"".join(b"".join(row) for row in dihedral), np.uint8).reshape(
            len(dihedral), len(DIHEDRAL), 32
        ),
    )


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint16)


def distances(queries: U8, stored: U8) -> npt.NDArray[np.uint16]:
    """Hamming distances between every row of `queries` and every row of `stored`."""
    out: npt.NDArray[np.uint16] = _POPCOUNT[queries[:, None, :] ^ stored[None, :, :]].sum(
        axis=-1, dtype=np.uint16
    )
    return out


def pair_distances(hashed: Hashed, row: str) -> npt.NDArray[np.uint16]:
    """Distance from each item (as a query) to each item (as stored)."""
    if row == "pdq+dihedral":
        per_variant = np.stack(
            [distances(hashed.dihedral[:, v, :], hashed.plain["pdq"]) for v in range(8)]
        )
        result: npt.NDArray[np.uint16] = per_variant.min(axis=0)
        return result
    return distances(hashed.plain[row], hashed.plain[row])


def uniform_rate(bits: int, threshold: int) -> float:
    """P(distance ≤ threshold) between two uniformly random hashes."""
    return sum(math.comb(bits, k) for k in range(threshold + 1)) / 2.0**bits


@dataclass
class RowResult:
    recall: dict[str, npt.NDArray[np.float64]]  # transform → recall at each threshold 0..max
    false_match: npt.NDArray[np.float64]  # rate at each threshold 0..max
    pairs: int


def evaluate(hashed: Hashed, row: str, max_threshold: int) -> RowResult:
    matrix = pair_distances(hashed, row)
    group = np.array(hashed.group)
    originals = [i for i, t in enumerate(hashed.transform) if t == ""]
    first_of_group = {hashed.group[i]: i for i in originals}
    thresholds = np.arange(max_threshold + 1)
    recall = {}
    for name in TRANSFORMS:
        items = [i for i, t in enumerate(hashed.transform) if t == name]
        # The transformed copy is the query; the original is what the set holds.
        d = np.array([matrix[i, first_of_group[hashed.group[i]]] for i in items])
        recall[name] = (d[:, None] <= thresholds[None, :]).mean(axis=0)
    different = group[:, None] != group[None, :]
    if row != "pdq+dihedral":  # symmetric: count each unordered pair once
        different &= np.triu(np.ones_like(different), k=1).astype(bool)
    impostors = matrix[different]
    counts = np.bincount(impostors, minlength=max_threshold + 1)[: max_threshold + 1]
    return RowResult(
        recall=recall,
        false_match=np.cumsum(counts) / impostors.size,
        pairs=int(impostors.size),
    )


def mean_recall(result: RowResult) -> npt.NDArray[np.float64]:
    """Mean recall over the transforms, without mirror and rotation (dihedral's business)."""
    kept = [result.recall[n] for n in TRANSFORMS if n not in ("mirror", "rotate-90")]
    mean: npt.NDArray[np.float64] = np.mean(kept, axis=0)
    return mean


def suggested_default(result: RowResult, bits: int) -> int:
    """Largest distance with no measured false match and < 1e-5 per query at 1M (uniform)."""
    best = 0
    for threshold, rate in enumerate(result.false_match):
        if rate > 0 or SET_SIZE * uniform_rate(bits, threshold) >= 1e-5:
            break
        best = threshold
    return best


def print_table(results: dict[str, RowResult]) -> None:
    for row, result in results.items():
        thresholds = THRESHOLDS[row]
        print(f"\n{row}: recall (%) by max distance; {result.pairs:,} impostor pairs")
        print(f"{'transform':<16}" + "".join(f"{t:>7}" for t in thresholds))
        for name, recall in result.recall.items():
            print(f"{name:<16}" + "".join(f"{100 * recall[t]:>7.0f}" for t in thresholds))
        mean = mean_recall(result)
        print(f"{'mean*':<16}" + "".join(f"{100 * mean[t]:>7.1f}" for t in thresholds))
        print(
            f"{'false-match %':<16}"
            + "".join(f"{100 * result.false_match[t]:>7.3f}" for t in thresholds)
        )
        print(
            f"{'FM/query@1M':<16}"
            + "".join(f"{_short(SET_SIZE * result.false_match[t]):>7}" for t in thresholds)
        )
        print(
            f"{'uniform@1M':<16}"
            + "".join(f"{_short(SET_SIZE * uniform_rate(BITS[row], t)):>7}" for t in thresholds)
        )
    print(
        "\nmean* excludes mirror and rotate-90. FM/query@1M: expected false matches per query "
        f"in a set of {SET_SIZE:,} hashes at the measured rate (0: below this corpus's "
        "resolution); uniform@1M: the same for uniformly random bits (a lower bound)."
    )


def print_at_defaults(results: dict[str, RowResult]) -> None:
    """Recall (%) of each transform at each type's default max distance (the registry's)."""
    defaults = {row: REGISTRY[row.split("+")[0]].default_max_distance for row in results}
    print("\nrecall (%) at the default max distances")
    print(f"{'transform':<16}" + "".join(f"{f'{row}@{d}':>16}" for row, d in defaults.items()))
    for name in TRANSFORMS:
        print(
            f"{name:<16}"
            + "".join(f"{100 * results[row].recall[name][d]:>16.0f}" for row, d in defaults.items())
        )
    print(
        f"{'false-match %':<16}"
        + "".join(f"{100 * results[row].false_match[d]:>16.4f}" for row, d in defaults.items())
    )


def print_match_sets(hashed: Hashed) -> None:
    """Recall and false matches of each candidate default set of POST /v1/match/image, each
    type at its default max distance: a copy is found if any of its hashes matches."""
    group = np.array(hashed.group)
    originals = {hashed.group[i]: i for i, t in enumerate(hashed.transform) if t == ""}
    different = group[:, None] != group[None, :]
    print("\nPOST /v1/match/image default sets (each type at its default max distance)")
    header = f"{'transform':<16}" + "".join(f"{'+'.join(s):>18}" for s in MATCH_SETS)
    print(header)
    within = {
        name: pair_distances(hashed, name) <= REGISTRY[name].default_max_distance
        for name in {name for s in MATCH_SETS for name in s}
    }
    union = {s: np.logical_or.reduce([within[name] for name in s]) for s in MATCH_SETS}
    for transform in TRANSFORMS:
        items = [i for i, t in enumerate(hashed.transform) if t == transform]
        cells = []
        for s in MATCH_SETS:
            found = np.mean([union[s][i, originals[hashed.group[i]]] for i in items])
            cells.append(f"{100 * found:>18.0f}")
        print(f"{transform:<16}" + "".join(cells))
    pairs = int(different.sum())
    print(
        f"{'false matches':<16}"
        + "".join(f"{int(union[s][different].sum()):>18}" for s in MATCH_SETS)
        + f"   (of {pairs:,} ordered pairs of different originals)"
    )
    uniform = {
        s: LARGE_SET
        * sum(uniform_rate(BITS[name], REGISTRY[name].default_max_distance) for name in s)
        for s in MATCH_SETS
    }
    print(
        f"{'uniform@10M':<16}"
        + "".join(f"{_short(uniform[s]):>18}" for s in MATCH_SETS)
        + "   (expected false matches per query in 10 M hashes of uniform bits)"
    )


def _short(value: float) -> str:
    if value == 0:
        return "0"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 0.01:
        return f"{value:.2f}"
    return f"{value:.0e}"


def plot(results: dict[str, RowResult], path: Path) -> None:
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5), sharey=True)
    for axis, (row, result) in zip(axes.flat, results.items(), strict=True):
        thresholds = np.arange(len(result.false_match))
        for recall in result.recall.values():
            axis.plot(thresholds, recall, color="0.75", linewidth=0.8)
        mean = mean_recall(result)
        axis.plot(thresholds, mean, color="tab:blue", linewidth=2.2, label="mean recall*")
        twin = axis.twinx()
        twin.semilogy(thresholds, np.maximum(result.false_match, 1e-7), "--", color="tab:red")
        twin.set_ylim(1e-6, 1)
        twin.set_ylabel("false-match rate", color="tab:red")
        default = REGISTRY[row.split("+")[0]].default_max_distance
        axis.axvline(default, color="tab:green", linestyle=":", label="default max distance")
        axis.set_title(row)
        axis.set_xlabel("max distance")
        axis.grid(alpha=0.3)
    axes[0, 0].set_ylabel("recall")
    axes[1, 0].set_ylabel("recall")
    axes[0, 0].legend(loc="lower right")
    fig.suptitle(
        "Recall against max distance per signal type (grey: each transformation; "
        "*: mean without mirror and rotate-90); dashed: false-match rate"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plot", default=str(RESULTS / "robustness.png"))
    args = parser.parse_args()
    started = time.perf_counter()
    images = corpus()
    hashed = hash_all(images)
    print(
        f"{len(images)} originals x {len(TRANSFORMS)} transforms = {len(hashed.group)} images "
        f"hashed in {time.perf_counter() - started:.0f} s"
    )
    results = {row: evaluate(hashed, row, 64 if row.startswith("pdq") else 24) for row in ROWS}
    print_table(results)
    print_at_defaults(results)
    print_match_sets(hashed)
    print("\nsuggested defaults (largest distance with no false match measured here and")
    print("fewer than 1e-5 false matches per query at 1M hashes for uniform bits):")
    for row in TYPES_64:
        current = REGISTRY[row].default_max_distance
        suggestion = suggested_default(results[row], BITS[row])
        print(f"  {row}: {suggestion}   (registry default now {current})")
    plot(results, Path(args.plot))
    print(f"\nplot: {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
