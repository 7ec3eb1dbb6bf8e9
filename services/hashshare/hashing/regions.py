"""Normalising an image before hashing: the regions of it that survive a re-upload.

A global perceptual hash moves too far when a picture is framed: a border or letterbox bars,
meme caption bands above and below, a screenshot's title bar and margins, a social-media
post's header and footer. The same pipeline runs on the submission and the query side, so
that the picture inside the frame is hashed whichever side had the frame:

- `trimmed`: the image without the uniform lines along its edges (borders, letterbox and
  pillarbox bars): a line goes while at least `BORDER_SHARE` of its pixels are within
  `TOLERANCE` of its median colour.
- `framed`: the image without any frame-like lines along its edges: a line goes while at
  least `FRAME_SHARE` of its pixels are within `TOLERANCE` of its median colour, which is
  also true of a band of text on a plain background (a caption, a title bar, a post's header
  with a name and a date) and of a window's margin. Rows and columns are peeled in turn until
  neither moves, so a frame is taken apart band by band.
- `banded`: as `framed`, with one frame colour, that of the image's outer edge (the median of
  its outermost rows and columns). `framed` lets a frame change colour (a title bar, then a
  margin), so after a caption band it also peels a plain sky or backdrop at the picture's
  edge as a frame of another colour; `banded` stops where the frame's colour ends.

Both are found on a copy shrunk to `ANALYSIS_SIDE` pixels on its long side (fast, and deaf to
JPEG noise), then cut one analysis pixel further in on each side that was cut, so that the
line where frame and picture blend is not hashed. A region is kept only when it removes at
least `MIN_CUT` of a side and keeps at least `MIN_KEEP` of each side; a region equal to an
earlier one is not repeated. The whole image is always the first region, so a plain hash of
the whole picture (what HMA members compute with pdqhash) is matched exactly as before.

On the submission side only, `central_regions` adds canonical central crops of the picture
(`CENTRAL_CUTS` of each side cut off), and `rotated_views` the picture turned by
`ROTATIONS` degrees and cut to the largest centred rectangle of its shape that holds no
corner: a re-upload cropped by 3-10 %, or turned by a few degrees and cropped to hide the
corners, is then near one of them with its whole image's hash. The query side does not need
them (its whole image is the cropped or turned one), so they cost stored hashes and no
queries; benchmarks/robustness.py measures what they find and cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

ANALYSIS_SIDE = 160
TOLERANCE = 24
BORDER_SHARE = 0.97
FRAME_SHARE = 0.4
MIN_CUT = 0.01
MIN_KEEP = 0.3
WHOLE = "whole"
# Share of each side a stored central crop leaves out: 2.5 % and 4.5 %, so that a crop of
# 3-10 % of the width or height (each side 1.5-5 %) is within PDQ's reach of one of them.
CENTRAL_CUTS = (0.025, 0.045)
CENTRAL_NAMES = tuple(f"central-{round(100 * (1 - 2 * cut))}" for cut in CENTRAL_CUTS)
# Degrees (counter-clockwise) a stored turned view is turned by: the middle of the 1-5 degree
# turns re-uploads use, either way. A view is turned on a copy of at most ROTATION_SIDE
# pixels: PDQ reduces to 64x64 anyway, and these hashes need no exactness against pdqhash.
ROTATIONS = (3.0, -3.0)
ROTATION_SIDE = 512
ROTATED_NAMES = tuple(f"rotated{angle:+g}" for angle in ROTATIONS)
REGION_NAMES = (WHOLE, "trimmed", "framed", "banded", *CENTRAL_NAMES, *ROTATED_NAMES)

Box = tuple[int, int, int, int]  # left, top, right, bottom in pixels, right/bottom exclusive


@dataclass(frozen=True, slots=True)
class Region:
    name: str
    box: Box  # in the pixels the regions were found in


def _near(lines: npt.NDArray[np.int16], colour: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """For each line of an (n, w, 3) block: the share of its pixels within TOLERANCE of colour."""
    shares: npt.NDArray[np.float64] = (np.abs(lines - colour) <= TOLERANCE).all(axis=2).mean(axis=1)
    return shares


@dataclass(frozen=True, slots=True)
class _Rule:
    uniform: float  # a frame starts (and goes on past text) at a line this uniform
    line: float  # a line of the frame has this share of the frame's colour (text on it)
    skip: float  # how far (share of the side) to look past a line of text for the frame


_TRIM = _Rule(uniform=BORDER_SHARE, line=BORDER_SHARE, skip=0.0)
_FRAME = _Rule(uniform=0.9, line=FRAME_SHARE, skip=0.12)


def _peel_edge(
    lines: npt.NDArray[np.int16],
    rule: _Rule,
    limit: int,
    frame: npt.NDArray[np.float64] | None = None,
) -> int:
    """How many lines (outermost first) are frame: runs of lines in a frame colour, past
    bands of text on it; a frame may change colour (a title bar, then a margin) unless its
    one colour is given (`frame`)."""
    depth = 0
    skip = max(1, round(rule.skip * len(lines)))
    while depth < limit:
        colour = np.median(lines[depth], axis=0) if frame is None else frame
        shares = _near(lines[depth:limit], colour)
        if shares[0] < rule.uniform:
            break
        at = 0
        while at < len(shares):
            if shares[at] >= rule.line:
                at += 1
                continue
            ahead = np.flatnonzero(shares[at : at + skip] >= rule.uniform)
            if rule.skip == 0 or len(ahead) == 0:
                break
            at += int(ahead[0])
        if at == 0:  # no line went: stop, or this edge is tried for ever
            break
        depth += at
    return depth


def _peel(
    pixels: npt.NDArray[np.int16], rule: _Rule, frame: npt.NDArray[np.float64] | None = None
) -> Box:
    """The box left when frame lines are peeled off each edge, in turn until none moves."""
    height, width = pixels.shape[:2]
    left, top, right, bottom = 0, 0, width, height
    for _ in range(6):
        before = (left, top, right, bottom)
        # At least one line stays each way: a block with no pixels has no colour to compare.
        keep_h, keep_w = max(1, round(MIN_KEEP * height)), max(1, round(MIN_KEEP * width))
        block = pixels[top:bottom, left:right]
        top += _peel_edge(block, rule, frame=frame, limit=max(0, bottom - top - keep_h))
        block = pixels[top:bottom, left:right]
        bottom -= _peel_edge(block[::-1], rule, frame=frame, limit=max(0, bottom - top - keep_h))
        block = pixels[top:bottom, left:right].transpose(1, 0, 2)
        left += _peel_edge(block, rule, frame=frame, limit=max(0, right - left - keep_w))
        block = pixels[top:bottom, left:right].transpose(1, 0, 2)
        right -= _peel_edge(block[::-1], rule, frame=frame, limit=max(0, right - left - keep_w))
        if (left, top, right, bottom) == before:
            break
    return left, top, right, bottom


def _inset(box: Box, width: int, height: int) -> Box:
    """One pixel further in on each side that was cut (that line blends frame and picture)."""
    left, top, right, bottom = box
    return (
        left + 1 if left > 0 else 0,
        top + 1 if top > 0 else 0,
        right - 1 if right < width else width,
        bottom - 1 if bottom < height else height,
    )


def find_regions(image: Image.Image) -> list[Region]:
    """The whole image, then each distinct region a frame was taken off (in image pixels)."""
    width, height = image.size
    regions = [Region(WHOLE, (0, 0, width, height))]
    scale = ANALYSIS_SIDE / max(width, height)
    if scale < 1:
        small = image.resize(
            (max(1, round(width * scale)), max(1, round(height * scale))),
            Image.Resampling.BOX,
        )
    else:
        small, scale = image, 1.0
    pixels = np.asarray(small.convert("RGB"), dtype=np.int16)
    small_height, small_width = pixels.shape[:2]
    edge = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    outer: npt.NDArray[np.float64] = np.median(edge, axis=0)
    for name, rule, frame in (
        ("trimmed", _TRIM, None),
        ("framed", _FRAME, None),
        ("banded", _FRAME, outer),
    ):
        left, top, right, bottom = _inset(_peel(pixels, rule, frame), small_width, small_height)
        if (right - left) < MIN_KEEP * small_width or (bottom - top) < MIN_KEEP * small_height:
            continue
        cut = max(
            left / small_width,
            top / small_height,
            1 - right / small_width,
            1 - bottom / small_height,
        )
        if cut < MIN_CUT:
            continue
        box = (
            round(left / scale),
            round(top / scale),
            min(width, round(right / scale)),
            min(height, round(bottom / scale)),
        )
        if any(region.box == box for region in regions):
            continue
        regions.append(Region(name, box))
    return regions


def central_regions(image: Image.Image) -> list[Region]:
    """The canonical central crops of an image (in image pixels), for the submission side."""
    width, height = image.size
    regions: list[Region] = []
    for name, cut in zip(CENTRAL_NAMES, CENTRAL_CUTS, strict=True):
        dx, dy = round(width * cut), round(height * cut)
        if dx < 1 or dy < 1:  # too small an image to crop by a share of a pixel
            continue
        regions.append(Region(name, (dx, dy, width - dx, height - dy)))
    return regions


def rotated_views(image: Image.Image) -> list[tuple[Region, Image.Image]]:
    """The picture turned by each of `ROTATIONS` and cut to the largest centred rectangle of
    its shape without a corner, for the submission side: (region, pixels) where the box is
    in image pixels of the turned picture."""
    width, height = image.size
    scale = min(1.0, ROTATION_SIDE / max(width, height))
    small = image
    if scale < 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = image.resize(size, Image.Resampling.BOX)
    ratio = max(width, height) / min(width, height)
    views: list[tuple[Region, Image.Image]] = []
    for name, angle in zip(ROTATED_NAMES, ROTATIONS, strict=True):
        turn = math.radians(abs(angle))
        keep = 1 / (math.cos(turn) + ratio * math.sin(turn))  # of each side
        cut_x, cut_y = (1 - keep) / 2 * small.width, (1 - keep) / 2 * small.height
        if cut_x < 1 or cut_y < 1:  # too small an image to turn meaningfully
            continue
        turned = small.rotate(angle, Image.Resampling.BICUBIC, expand=False)
        inner = turned.crop(
            (round(cut_x), round(cut_y), small.width - round(cut_x), small.height - round(cut_y))
        )
        box = (
            round(cut_x / scale),
            round(cut_y / scale),
            width - round(cut_x / scale),
            height - round(cut_y / scale),
        )
        views.append((Region(name, box), inner))
    return views
