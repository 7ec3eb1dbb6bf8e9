"""Hashing and matching uploaded images.

The image is hashed in a worker process, at most `concurrency` images at a time, so that
memory stays bounded however many uploads arrive at once. Not in a thread: decoding and PDQ
hold the GIL for 20-60 ms per large photo, which would stall every match the process is
serving meanwhile; and a decoder that crashes on a hostile file takes down only its worker
process (that upload is refused as `image_unreadable`; the pool is replaced), not the
server. An upload still hashing at its deadline has its pool killed the same way (no job can
be taken back from a worker) and is refused as `image_hashing_timeout`. The bytes live only
in memory for the request: they are never stored, logged or written to disk. Matching is
`matching.service.match()`: the same validation, defaults, ceilings and audit event as
POST /v1/match (hashes that matched by id; nothing of the image itself).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool

import anyio

from hashshare.auth.principal import Principal
from hashshare.config import Settings
from hashshare.hashing import pool
from hashshare.hashing.hashers import DIHEDRAL, ImageHashes, PdqHash, hash_bytes, parse_types
from hashshare.hashing.images import ImageHashingTimeout, ImageLimits, ImageUnreadable
from hashshare.hashing.regions import WHOLE
from hashshare.hashing.schemas import (
    DihedralHash,
    HashOptions,
    HashResponse,
    HashValue,
    HashWarning,
    ImageMatchResponse,
    ImageMatchResult,
    ImageOut,
    MatchedHash,
    MatchImageOptions,
    RegionOut,
)
from hashshare.matching.schemas import MatchQuery
from hashshare.matching.service import MatchService
from hashshare.signals import DistanceKind, get_signal_type

# pdq alone misses re-encodes of small images (a 256-pixel JPEG saved as WebP moves its PDQ
# by up to 40 bits, pHash and dHash by a few): the 64-bit types at their defaults (3 and 2)
# catch most of them, at the false-match cost measured by benchmarks/robustness.py (README,
# "Robustness and the 64-bit defaults"), which those defaults keep under PDQ's alone at 31.
MATCH_DEFAULT_TYPES = ("pdq", "phash", "dhash", "md5", "sha256")


HashWork = Callable[[bytes, tuple[str, ...], ImageLimits, bool, bool, bool], ImageHashes]


class ImageHasher:
    """Hashes images in worker processes, a bounded number at a time (see above)."""

    def __init__(
        self,
        limits: ImageLimits,
        concurrency: int | None = None,
        work: HashWork = hash_bytes,
        seconds: float = 30.0,
    ) -> None:
        self.limits = limits
        self.concurrency = concurrency or min(4, os.cpu_count() or 1)
        self.seconds = seconds
        self._work = work
        self._limiter: anyio.CapacityLimiter | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ImageHasher:
        return cls(
            ImageLimits(
                max_bytes=settings.max_upload_bytes,
                max_pixels=settings.max_image_pixels,
                formats=tuple(settings.image_formats),
            ),
            seconds=settings.image_hash_seconds,
        )

    async def hash(
        self,
        data: bytes,
        types: tuple[str, ...],
        dihedral: bool,
        regions: bool = False,
        central: bool = False,
    ) -> ImageHashes:
        if self._limiter is None:  # created on first use, inside the running event loop
            self._limiter = anyio.CapacityLimiter(self.concurrency)
        async with self._limiter:
            workers = pool.pool(self.concurrency)
            try:
                future = workers.submit(
                    self._work, data, types, self.limits, dihedral, regions, central
                )
                return await asyncio.wait_for(asyncio.wrap_future(future), self.seconds)
            except BrokenProcessPool:
                pool.replace(self.concurrency, workers)
            except TimeoutError:
                # A job cannot be taken back from a worker: the pool goes, and the uploads
                # in flight on it are retried alone below, as after a crash.
                pool.kill(self.concurrency, workers)
                raise self._timeout() from None
            # A worker died, which fails every upload in flight on the pool, not only the one
            # that killed it. Each tries again alone, in a process of its own: only an upload
            # that kills its own worker (or runs past the deadline) is refused.
            alone = pool.single()
            try:
                future = alone.submit(
                    self._work, data, types, self.limits, dihedral, regions, central
                )
                return await asyncio.wait_for(asyncio.wrap_future(future), self.seconds)
            except BrokenProcessPool:
                raise ImageUnreadable("the image cannot be decoded: the decoder crashed") from None
            except TimeoutError:
                pool.kill(None, alone)
                raise self._timeout() from None
            finally:
                alone.shutdown(wait=False)

    def _timeout(self) -> ImageHashingTimeout:
        return ImageHashingTimeout(
            f"the image took longer than {self.seconds:g} s to hash",
            details={"max_seconds": self.seconds},
        )


def _image_out(hashes: ImageHashes) -> ImageOut | None:
    info = hashes.image
    if info is None:
        return None
    return ImageOut(
        format=info.format,
        width=info.width,
        height=info.height,
        animated=info.animated,
        exif_orientation=info.orientation,
        reduction=info.reduction,
    )


def _values(values: dict[str, bytes], pdq_quality: int | None) -> list[HashValue]:
    return [
        HashValue(
            signal_type=name,
            value=value.hex(),
            quality=pdq_quality if name == "pdq" else None,
        )
        for name, value in values.items()
    ]


def _regions(hashes: ImageHashes, min_pdq_quality: int) -> list[RegionOut]:
    """The regions a member can submit: one whose PDQ quality is under the floor (a flat
    middle cut out of a picture) would be refused by POST /v1/hashes, with the whole request."""
    return [
        RegionOut(
            region=region.name,
            box=list(region.box),
            hashes=_values(region.values, region.pdq_quality),
        )
        for region in hashes.regions
        if region.pdq_quality is None or region.pdq_quality >= min_pdq_quality
    ]


def _warnings(hashes: ImageHashes, settings: Settings, matching_skipped: bool) -> list[HashWarning]:
    quality = hashes.pdq_quality
    if quality is None or quality >= settings.min_pdq_quality:
        return []
    consequence = (
        "its perceptual hashes were not matched (md5 and sha256 were)"
        if matching_skipped
        else "it would be refused for submission"
    )
    return [
        HashWarning(
            code="low_quality",
            message=f"PDQ quality {quality} is below the minimum {settings.min_pdq_quality} "
            f"(a flat or featureless image): {consequence}",
        )
    ]


Planned = tuple[str, str, str | None, str]  # signal type, region, transform, hex value


def plan_queries(hashes: ImageHashes, min_pdq_quality: int) -> list[Planned]:
    """The queries an image's hashes make: the whole image's first (the plain hash of each
    type, then the PDQ variants), then each region's; each distinct hash once.

    A featureless image's (or region's) perceptual hashes, PDQ's and the 64-bit ones alike,
    match noise and other featureless images, not content: none of them is queried when the
    whole image's PDQ quality is under `min_pdq_quality`, nor a region's when its own is.
    """
    low_quality = hashes.pdq_quality is not None and hashes.pdq_quality < min_pdq_quality
    planned: list[Planned] = []
    seen: set[tuple[str, str]] = set()
    parts: list[tuple[str, dict[str, bytes], int | None, dict[str, PdqHash]]] = [
        (WHOLE, hashes.values, hashes.pdq_quality, hashes.dihedral)
    ] + [(r.name, r.values, r.pdq_quality, r.dihedral) for r in hashes.regions]
    for region, values, quality, variants in parts:
        for name, value in values.items():
            perceptual = get_signal_type(name).distance_kind is DistanceKind.HAMMING
            if perceptual and (low_quality or (quality is not None and quality < min_pdq_quality)):
                continue
            queried: list[tuple[str | None, str]] = [(None, value.hex())]
            if name == "pdq":
                queried = (
                    [(transform, variants[transform].hex) for transform in DIHEDRAL]
                    if variants
                    else [("original", value.hex())]
                )
            for transform, text in queried:
                if (name, text) not in seen:  # the same hash is queried once
                    seen.add((name, text))
                    planned.append((name, region, transform, text))
    return planned


class ImageService:
    """Hash uploaded images, and match their hashes as POST /v1/match does."""

    def __init__(self, settings: Settings, hasher: ImageHasher, matches: MatchService) -> None:
        self._settings = settings
        self._hasher = hasher
        self._matches = matches

    async def hash_image(self, data: bytes, options: HashOptions) -> HashResponse:
        """Hash an uploaded image; nothing is stored."""
        types = parse_types(options.signal_types or None)  # an empty field means the default
        # What a member submits: with the regions, the canonical central crops (regions.py).
        hashes = await self._hasher.hash(
            data, types, options.dihedral, options.regions, central=options.regions
        )
        dihedral = None
        if hashes.dihedral:
            dihedral = [
                DihedralHash(transform=name, value=value.hex)
                for name, value in hashes.dihedral.items()
            ]
        return HashResponse(
            hashes=_values(hashes.values, hashes.pdq_quality),
            pdq_dihedral=dihedral,
            image=_image_out(hashes),
            regions=_regions(hashes, self._settings.min_pdq_quality),
            warnings=_warnings(hashes, self._settings, matching_skipped=False),
        )

    async def match_image(
        self, principal: Principal, data: bytes, options: MatchImageOptions
    ) -> ImageMatchResponse:
        """Hash an uploaded image and match its hashes as POST /v1/match does."""
        settings = self._settings
        types = parse_types(options.signal_types or ",".join(MATCH_DEFAULT_TYPES))
        hashes = await self._hasher.hash(data, types, options.dihedral, options.regions)
        planned = plan_queries(hashes, settings.min_pdq_quality)
        results: list[ImageMatchResult] = []
        matched: dict[int, MatchedHash] = {}
        matched_queries = 0
        if planned:
            outcome = await self._matches.match(
                principal,
                [MatchQuery(signal_type=name, value=text) for name, _, _, text in planned],
                options.include_disputed,
            )
            matched_queries = outcome.matched_queries
            for (signal_type, region, variant, text), result in zip(
                planned, outcome.results, strict=True
            ):
                for hit in result.matches:
                    best = matched.get(hit.hash_id)
                    if best is None or hit.distance < best.distance:
                        matched[hit.hash_id] = MatchedHash(
                            hash_id=hit.hash_id,
                            signal_type=signal_type,
                            distance=hit.distance,
                            region=region,
                            transform=variant,
                        )
                results.append(
                    ImageMatchResult(
                        index=result.index,
                        signal_type=signal_type,
                        region=region,
                        transform=variant,
                        value=text,
                        max_distance=result.max_distance,
                        matches=result.matches,
                    )
                )
        return ImageMatchResponse(
            hashes=_values(hashes.values, hashes.pdq_quality),
            image=_image_out(hashes),
            regions=_regions(hashes, self._settings.min_pdq_quality),
            results=results,
            matched_queries=matched_queries,
            matched_hashes=sorted(matched.values(), key=lambda hit: (hit.distance, hit.hash_id)),
            warnings=_warnings(hashes, settings, matching_skipped=True),
        )
